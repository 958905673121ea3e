package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/console"
)

func init() {
	register("operator add", "add a web console operator: operator add NAME (password on stdin or --password-file)", operatorAdd)
	register("operator passwd", "set an operator's password, ending its sessions: operator passwd NAME", operatorPasswd)
	register("operator remove", "remove an operator and its sessions: operator remove NAME", operatorRemove)
	register("operator list", "list the console's operators", operatorList)
}

// opsIn is where operator commands read a password, swapped by tests.
var opsIn io.Reader = os.Stdin

// cliOperator is who the audit log names for what the command line does.
const cliOperator = "cli"

// auditCLI records an action of the command line in the console's audit
// log, beside the console's own.
func auditCLI(ctx context.Context, a *app.App, action, target string, detail ...string) error {
	return console.NewAccounts(a.Store).Audit(ctx, cliOperator, action, target, strings.Join(detail, " "), "")
}

// readPassword takes the password from a file (its first line) or from
// the first line of standard input: never from a flag, which shell history
// and process listings would show.
func readPassword(file string) (string, error) {
	var r io.Reader = opsIn
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	} else {
		fmt.Fprintln(opsErr, "password (12 characters at least), then Enter:")
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func operatorCmd(ctx context.Context, name string, args []string, run func(*console.Accounts, string, string) error, withPassword bool) error {
	fs, sf := storeCmd("portrait operator " + name)
	var pwFile *string
	if withPassword {
		pwFile = fs.String("password-file", "", "read the password from this file's first line instead of stdin")
	}
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	var password string
	if withPassword {
		if password, err = readPassword(*pwFile); err != nil {
			return err
		}
	}
	a, err := sf.open(ctx, app.FacesNone)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := run(console.NewAccounts(a.Store), pos[0], password); err != nil {
		return err
	}
	fmt.Fprintf(opsOut, "operator %s: %s\n", pos[0], name)
	return nil
}

func operatorAdd(ctx context.Context, args []string) error {
	return operatorCmd(ctx, "add", args, func(acc *console.Accounts, name, pw string) error {
		return acc.Add(ctx, cliOperator, name, pw)
	}, true)
}

func operatorPasswd(ctx context.Context, args []string) error {
	return operatorCmd(ctx, "passwd", args, func(acc *console.Accounts, name, pw string) error {
		return acc.SetPassword(ctx, cliOperator, name, pw)
	}, true)
}

func operatorRemove(ctx context.Context, args []string) error {
	return operatorCmd(ctx, "remove", args, func(acc *console.Accounts, name, _ string) error {
		return acc.Remove(ctx, cliOperator, name)
	}, false)
}

func operatorList(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait operator list")
	a, _, err := sf.parseOpen(ctx, fs, args, app.FacesNone)
	if err != nil {
		return err
	}
	defer a.Close()
	ops, err := console.NewAccounts(a.Store).List(ctx)
	if err != nil {
		return err
	}
	type opJSON struct {
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	out := make([]opJSON, 0, len(ops))
	for _, o := range ops {
		out = append(out, opJSON{o.Name, o.CreatedAt, o.UpdatedAt})
	}
	if *sf.json {
		return printJSON(out)
	}
	w := tabwriter.NewWriter(opsOut, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tCREATED\tPASSWORD SET")
	for _, o := range out {
		fmt.Fprintf(w, "%s\t%s\t%s\n", o.Name, o.CreatedAt.Format(time.RFC3339), o.UpdatedAt.Format(time.RFC3339))
	}
	return w.Flush()
}
