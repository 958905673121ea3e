// Command portrait is the service and its operator's and merchant's tools:
// serve, merchant, identity, ledger, verify, models, bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand; name may hold a space for a two-word command
// ("merchant create").
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

// register is called from each command file's init, so that commands can live
// in their own files.
func register(name, summary string, run func(ctx context.Context, args []string) error) {
	commands[name] = command{name: name, summary: summary, run: run}
}

// errUsage marks an error already explained by the flag set's usage output.
var errUsage = errors.New("usage")

// Exit statuses: 0 success, 1 an error (or a usage mistake), 2 no such
// command, exitNotOK an answer of the service other than 0000 (verify).
const exitNotOK = 3

// exitError is an error that exits with its own status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	cmd, rest, ok := lookup(args)
	if !ok {
		usage()
		return 2
	}
	if err := cmd.run(ctx, rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "portrait %s: %v\n", cmd.name, err)
		}
		if e, ok := errors.AsType[exitError](err); ok {
			return e.code
		}
		return 1
	}
	return 0
}

func lookup(args []string) (command, []string, bool) {
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c, args[2:], true
		}
	}
	if len(args) >= 1 {
		if c, ok := commands[args[0]]; ok {
			return c, args[1:], true
		}
	}
	return command{}, nil, false
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: portrait COMMAND [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-24s %s\n", n, commands[n].summary)
	}
	b.WriteString("\nRun `portrait COMMAND -h` for a command's flags.\n")
	fmt.Fprint(os.Stderr, b.String())
}
