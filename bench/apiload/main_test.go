package apiload

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// childEnv makes the test binary act as `rightsizer serve` (see
// fakeServe), so that StartServer can be tested on a real process.
const childEnv = "APILOAD_TEST_SERVE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(fakeServe(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// fakeServe is the child: with mode "serve" it serves a fakeServer and
// writes the address file as the real server does; "exit" fails at once;
// "garbage" writes an address file that is not JSON; "hang" writes none.
// It runs until SIGTERM.
func fakeServe(mode string, args []string) int {
	i := slices.Index(args, "--addr-file")
	if len(args) == 0 || args[0] != "serve" || i < 0 || i+1 >= len(args) {
		fmt.Fprintln(os.Stderr, "usage: serve --addr-file FILE, got", args)
		return 2
	}
	file := args[i+1]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var content []byte
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "fake server refuses to start")
		return 3
	case "garbage":
		content = []byte("{not json")
	case "serve":
		addr, stopServer, err := serveFake(newFakeServer())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer stopServer()
		content, _ = json.Marshal(Addrs{GRPC: addr, HTTP: "127.0.0.1:1"})
	}
	if mode == "hang" {
		<-ctx.Done()
		return 0
	}
	tmp := filepath.Join(filepath.Dir(file), ".addrs.tmp")
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Rename(tmp, file); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	return 0
}
