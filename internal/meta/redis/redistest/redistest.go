// Package redistest runs a real redis-server for tests, on a free loopback
// port, with persistence off and its working directory in a temporary
// directory. Starting one takes a few milliseconds, so each test can have
// its own (and stop it to test an outage).
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrNoBinary: redis-server is not installed.
var ErrNoBinary = errors.New("redistest: redis-server not found on PATH (apt-get install redis-server)")

// Server is a running redis-server.
type Server struct {
	// Addr is its 127.0.0.1:port.
	Addr string
	// URL is redis://Addr/0.
	URL string

	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a redis-server for t and stops it in t.Cleanup. It skips t
// when redis-server is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip(ErrNoBinary)
	}
	s := &Server{bin: bin, dir: t.TempDir()}
	for tries := 0; ; tries++ {
		// Below the ephemeral range, so an outgoing connection cannot take it.
		s.port = 20000 + rand.IntN(12000)
		err = s.Restart()
		if err == nil {
			break
		}
		if tries == 5 {
			t.Fatal(err)
		}
	}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.port)
	s.URL = "redis://" + s.Addr + "/0"
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again after Stop, on the same port, empty.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redistest: already running")
	}
	cmd := exec.Command(s.bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--protected-mode", "yes")
	cmd.Dir = s.dir
	out, err := os.Create(s.dir + "/redis.log")
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // a stopped server's status does not matter
		close(done)
	}()
	addr := "127.0.0.1:" + strconv.Itoa(s.port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(addr) == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(s.dir + "/redis.log")
			return fmt.Errorf("redistest: redis-server exited:\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return errors.New("redistest: redis-server did not answer PING within 10s")
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 5 s). Connections to
// Addr are refused afterwards. It is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// ping sends PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redistest: PING answered %q", line)
	}
	return nil
}
