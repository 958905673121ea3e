package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/portrait-id/portrait/client"
)

func init() {
	register("verify", "sign and send one verification call as a merchant, print the answer", verifyCall)
}

// verifyCall is the merchant's side of one call, through the SDK. It exits 0
// whenever the service answered, whatever the code: the answer is the result.
func verifyCall(ctx context.Context, args []string) error {
	return runVerify(ctx, args, os.Stdout)
}

func runVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("portrait verify", flag.ContinueOnError)
	baseURL := fs.String("url", "http://127.0.0.1:8080", "service base URL")
	appKey := fs.String("app-key", "", "merchant app_key (required)")
	appSecret := fs.String("app-secret", os.Getenv("PORTRAIT_APP_SECRET"), "merchant app_secret (or env PORTRAIT_APP_SECRET, kept out of shell history)")
	idNumber := fs.String("id-number", "", "ID number to verify (required)")
	name := fs.String("name", "", "holder's name (required)")
	selfiePath := fs.String("selfie", "", "selfie image file (required)")
	requestID := fs.String("request-id", "", "request_id; random when empty")
	multipart := fs.Bool("multipart", false, "send the selfie as multipart selfie_file instead of form selfie_base64")
	asJSON := fs.Bool("json", false, "print the answer's JSON as received")
	timeout := fs.Duration("timeout", 10*time.Second, "give up waiting for the answer after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	required := []struct{ flag, value string }{
		{"app-key", *appKey}, {"app-secret", *appSecret}, {"id-number", *idNumber}, {"name", *name}, {"selfie", *selfiePath},
	}
	for _, r := range required {
		if r.value == "" {
			fmt.Fprintf(os.Stderr, "portrait verify: --%s is required\n", r.flag)
			fs.Usage()
			return errUsage
		}
	}
	selfie, err := os.ReadFile(*selfiePath)
	if err != nil {
		return fmt.Errorf("read selfie: %w", err)
	}
	c := client.New(*baseURL, *appKey, *appSecret, client.WithHTTPClient(&http.Client{Timeout: *timeout}))
	res, err := c.Verify(ctx, client.Request{
		RequestID:    *requestID,
		IDNumber:     *idNumber,
		Name:         *name,
		Selfie:       selfie,
		UseMultipart: *multipart,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		if _, err := stdout.Write(res.Raw); err != nil {
			return err
		}
	} else {
		printResponse(stdout, res)
	}
	if res.Code != client.CodeOK {
		// Scripts test the exit status: only 0000 is a decided call.
		return exitError{code: exitNotOK, err: fmt.Errorf("answered %s %s", res.Code, res.Msg)}
	}
	return nil
}

func printResponse(w io.Writer, r *client.Response) {
	fmt.Fprintf(w, "trace_id  %s\n", r.TraceID)
	fmt.Fprintf(w, "code      %s  %s\n", r.Code, r.Msg)
	if d := r.Data; d != nil {
		fmt.Fprintf(w, "result    %d  %s\n", d.Result, pick(d.Result, "looked up", "selfie failed the quality check"))
		if d.Reason != "" {
			fmt.Fprintf(w, "reason    %s\n", d.Reason)
		}
		if d.Result == client.ResultFound {
			fmt.Fprintf(w, "id_name   %d  %s\n", d.IDName, pick(d.IDName, "name matches the ID number", "name does not match the ID number"))
		}
		if d.IDName == client.IDNameMatch {
			fmt.Fprintf(w, "photo     %d  %s\n", d.Photo, pick(d.Photo, "compared", "no photo on record", "no usable face in the photo on record"))
		}
		if d.Photo == client.PhotoCompared {
			fmt.Fprintf(w, "score     %s  %s\n", strconv.FormatFloat(d.Score, 'f', -1, 64), bandText[r.Band()])
		}
	}
	fmt.Fprintf(w, "charge    %d  %s\n", r.Charge, pick(r.Charge, "charged", "not charged"))
}

var bandText = map[client.Band]string{
	client.BandSame:      "same person [60,100]",
	client.BandUncertain: "uncertain [40,60)",
	client.BandDifferent: "different people [0,40)",
}

// pick is the text for a document value counted from 1.
func pick(v int, texts ...string) string {
	if v < 1 || v > len(texts) {
		return "(unknown value)"
	}
	return texts[v-1]
}
