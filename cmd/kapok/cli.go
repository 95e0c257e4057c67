package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// command is one node of kapok's command tree. The tree is the single source of the
// dispatch, of every help text, of the README's help block and of the shell completions,
// so adding a command is adding one entry.
type command struct {
	name    string
	summary string // one line, shown in the parent's list
	usage   string // the usage line(s) after "usage: "; the path when empty
	long    string // more text after the usage, optional
	// flags registers the command's flags on fs for its help and completion; the flags the
	// command really parses are registered by run itself, from the same helper.
	flags func(fs *flag.FlagSet)
	// run executes the command with the arguments after its name. A node without run is
	// run by its nearest ancestor that has one, with the arguments after that ancestor's
	// name: the leaves of `tenant`, `migrate` and `events` document what their parent's
	// function parses.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// helpByRun: the flags are known only to run (another package's flag set); help asks
	// run for them with -h.
	helpByRun bool
	// bare: run without a subcommand instead of printing the list (`kapok dev`).
	bare bool
	// args are the values its positional argument takes, for completion.
	args   []string
	sub    []*command
	parent *command
}

func (c *command) path() string {
	if c.parent == nil {
		return c.name
	}
	return c.parent.path() + " " + c.name
}

func (c *command) child(name string) *command {
	for _, s := range c.sub {
		if s.name == name {
			return s
		}
	}
	return nil
}

func link(c *command) *command {
	for _, s := range c.sub {
		s.parent = c
		link(s)
	}
	return c
}

// isHelpFlag reports whether a is -h or --help (also -help, which the flag package accepts).
func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// execute dispatches args (without the program name) through the tree rooted at root.
func execute(ctx context.Context, root *command, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "help" {
		return helpCommand(root, args[1:], stdout, stderr)
	}
	node, rest := root, args
	runner, runArgs := root, args
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		if rest[0] == "help" && len(node.sub) > 0 && node != root {
			// `kapok dev help [up]` reads as `kapok help dev [up]`.
			return helpCommand(node, rest[1:], stdout, stderr)
		}
		next := node.child(rest[0])
		if next == nil {
			break
		}
		node, rest = next, rest[1:]
		if node.run != nil {
			runner, runArgs = node, rest
		}
	}
	if node == root && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		unknown(root, rest[0], stderr)
		return exitUsage
	}
	for _, a := range rest {
		if a == "--" {
			break
		}
		if isHelpFlag(a) {
			return printHelp(ctx, node, stdout)
		}
	}
	if len(node.sub) > 0 && node != root && !node.bare {
		switch {
		case len(rest) == 0: // a group named alone lists its commands
			return printHelp(ctx, node, stdout)
		case strings.HasPrefix(rest[0], "-"):
			fmt.Fprintf(stderr, "%s: a command is required; see '%s --help'\n", node.path(), node.path())
		default:
			unknown(node, rest[0], stderr)
		}
		return exitUsage
	}
	if len(node.sub) > 0 && node.bare && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		unknown(node, rest[0], stderr)
		return exitUsage
	}
	if runner == root && node != root {
		return printHelp(ctx, node, stdout) // a command nothing runs documents its children
	}
	if runner == root {
		runner = root.child(defaultCommand)
	} else if runner != node {
		runArgs = append(pathBetween(runner, node), rest...)
	}
	return runner.run(ctx, runArgs, stdout, stderr)
}

// defaultCommand is what `kapok [flags]` runs.
const defaultCommand = "serve"

// pathBetween lists the names from below ancestor down to c.
func pathBetween(ancestor, c *command) []string {
	var names []string
	for n := c; n != ancestor && n != nil; n = n.parent {
		names = append([]string{n.name}, names...)
	}
	return names
}

func unknown(parent *command, name string, stderr io.Writer) {
	hint := ""
	if s := closest(parent, name); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	fmt.Fprintf(stderr, "%s: unknown command %q%s; see '%s --help'\n", parent.path(), name, hint, parent.path())
}

// closest names the subcommand of parent that name most likely misspells, if any.
func closest(parent *command, name string) string {
	best, bestD := "", 3
	for _, s := range parent.sub {
		if d := editDistance(name, s.name); d < bestD || (d == bestD && best == "" && strings.HasPrefix(s.name, name)) {
			best, bestD = s.name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// helpCommand runs `kapok help [command…]`.
func helpCommand(root *command, names []string, stdout, stderr io.Writer) int {
	node := root
	for _, n := range names {
		if isHelpFlag(n) {
			node = root.child("help")
			break
		}
		next := node.child(n)
		if next == nil {
			unknown(node, n, stderr)
			return exitUsage
		}
		node = next
	}
	return printHelp(context.Background(), node, stdout)
}

// printHelp writes c's help to w and returns exit status 0.
func printHelp(ctx context.Context, c *command, w io.Writer) int {
	writeHelp(ctx, c, w)
	return exitOK
}

func writeHelp(ctx context.Context, c *command, w io.Writer) {
	if c.summary != "" {
		fmt.Fprintf(w, "%s: %s\n\n", c.path(), c.summary)
	}
	usage := c.usage
	if usage == "" {
		usage = c.path()
		if len(c.sub) > 0 {
			usage += " COMMAND"
		}
		if c.flags != nil || c.helpByRun {
			usage += " [flags]"
		}
	}
	fmt.Fprintf(w, "usage:\n")
	for _, l := range strings.Split(strings.TrimRight(usage, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if c.long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.long, "\n"))
	}
	if len(c.sub) > 0 {
		fmt.Fprintf(w, "\ncommands:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range c.sub {
			fmt.Fprintf(tw, "  %s\t%s\n", s.name, s.summary)
		}
		tw.Flush()
	}
	if c.flags != nil {
		fmt.Fprintf(w, "\nflags:\n")
		fs := flag.NewFlagSet(c.path(), flag.ContinueOnError)
		fs.SetOutput(w)
		c.flags(fs)
		fs.PrintDefaults()
	} else if c.helpByRun {
		if d := runDefaults(ctx, c); d != "" {
			fmt.Fprintf(w, "\nflags:\n%s", d)
		}
	}
	if len(c.sub) > 0 {
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's usage.\n", c.path())
	}
}

// walk calls fn for c and every command below it, parents first.
func walk(c *command, fn func(*command)) {
	fn(c)
	for _, s := range c.sub {
		walk(s, fn)
	}
}

// runDefaults asks the function that runs c for its flags' defaults, as its flag set
// prints them on -h (whose parse error stops it before it does anything).
func runDefaults(ctx context.Context, c *command) string {
	runner, args := c, []string{"-h"}
	for runner.run == nil {
		args = append([]string{runner.name}, args...)
		runner = runner.parent
	}
	var b defaultsCapture
	runner.run(ctx, args, io.Discard, &b)
	var out []string
	keep := false
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		// Only the flag package's defaults: "  -name type" lines and their indented text.
		if strings.HasPrefix(l, "  -") {
			keep = true
		} else if !strings.HasPrefix(l, "    \t") && !strings.HasPrefix(l, "\t") {
			keep = false
		}
		if keep {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// flagNames lists c's flags as --name, sorted, and --help.
func flagNames(c *command) []string {
	var defaults string
	if c.flags != nil {
		var b strings.Builder
		fs := flag.NewFlagSet(c.path(), flag.ContinueOnError)
		fs.SetOutput(&b)
		c.flags(fs)
		fs.PrintDefaults()
		defaults = b.String()
	} else if c.helpByRun {
		defaults = runDefaults(context.Background(), c)
	}
	var names []string
	for _, l := range strings.Split(defaults, "\n") {
		if name, ok := strings.CutPrefix(l, "  -"); ok {
			name, _, _ = strings.Cut(name, " ")
			names = append(names, "--"+name)
		}
	}
	sort.Strings(names)
	return append(names, "--help")
}

// defaultsCapture receives a flag set's defaults when the help asks a run function for them.
type defaultsCapture struct{ strings.Builder }

// usageHint makes a flag set's parse errors end in one line naming the help command,
// instead of the whole flag list (which the help, writing to a defaultsCapture, still gets).
func usageHint(fs *flag.FlagSet, w io.Writer, path string) {
	fs.SetOutput(w)
	fs.Usage = func() {
		if _, ok := w.(*defaultsCapture); ok {
			fs.PrintDefaults()
			return
		}
		fmt.Fprintf(w, "see '%s --help'\n", path)
	}
}

// reference renders the help of every command under root, as the README shows it.
func reference(root *command) string {
	var b strings.Builder
	walk(root, func(c *command) {
		if c.name == "help" && c.parent != nil {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "$ %s --help\n", c.path())
		writeHelp(context.Background(), c, &b)
	})
	return b.String()
}
