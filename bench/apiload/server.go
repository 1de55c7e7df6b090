package apiload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Addrs is the file a server writes once it serves: its listeners.
type Addrs struct {
	GRPC string `json:"grpc"`
	HTTP string `json:"http"`
}

// Server is a `rightsizer serve` process started by StartServer.
type Server struct {
	Addrs Addrs
	cmd   *exec.Cmd
	dir   string
	done  chan struct{} // closed when the process has exited
	err   error         // Wait's error, set before done closes
}

// StartServer runs `bin serve` on loopback ports chosen by the kernel,
// in memory, and waits up to timeout for it to write its addresses. Its
// output goes to a log file whose tail is in any error. Stop it with Stop.
func StartServer(ctx context.Context, bin string, timeout time.Duration) (*Server, error) {
	dir, err := os.MkdirTemp("", "bench-api-")
	if err != nil {
		return nil, err
	}
	addrFile := filepath.Join(dir, "addrs.json")
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	cmd := exec.Command(bin, "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--addr-file", addrFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Start()
	// The child has its own descriptor now.
	if cerr := logf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		return nil, errors.Join(fmt.Errorf("start %s: %w", bin, err), os.RemoveAll(dir))
	}
	s := &Server{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	if s.Addrs, err = s.waitAddrs(ctx, addrFile, timeout); err != nil {
		err = fmt.Errorf("server %s: %w%s", bin, err, s.logTail())
		return nil, errors.Join(err, s.Stop(5*time.Second))
	}
	return s, nil
}

// waitAddrs polls for the address file until the process exits, ctx is
// done or timeout passes. The server renames the file into place, so a
// file that exists is whole.
func (s *Server) waitAddrs(ctx context.Context, path string, timeout time.Duration) (Addrs, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			var a Addrs
			if err := json.Unmarshal(b, &a); err != nil {
				return a, fmt.Errorf("read address file: %w", err)
			}
			if a.GRPC == "" {
				return a, errors.New("address file has no grpc address")
			}
			return a, nil
		case !errors.Is(err, fs.ErrNotExist):
			return Addrs{}, err
		}
		select {
		case <-s.done:
			return Addrs{}, fmt.Errorf("exited before serving: %w", s.err)
		case <-ctx.Done():
			return Addrs{}, ctx.Err()
		case <-deadline.C:
			return Addrs{}, fmt.Errorf("no address file after %v", timeout)
		case <-tick.C:
		}
	}
}

// PID returns the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to timeout for the process to exit, kills it
// if it has not, and removes its files. It reports an exit other than a
// clean one.
func (s *Server) Stop(timeout time.Duration) (err error) {
	defer func() {
		// After the log tail has been read into any error.
		err = errors.Join(err, os.RemoveAll(s.dir))
	}()
	select {
	case <-s.done:
		return s.exitErr()
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.done:
		return s.exitErr()
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("server did not stop within %v of SIGTERM: killed%s", timeout, s.logTail())
	}
}

func (s *Server) exitErr() error {
	if s.err != nil {
		return fmt.Errorf("server exit: %w%s", s.err, s.logTail())
	}
	return nil
}

// logTail returns the end of the server's log, for an error message.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	const n = 2048
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return "; log ends:\n" + string(b)
}
