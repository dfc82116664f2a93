package limit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// rawGet opens a connection to srv and sends a GET of path without reading
// the answer.
func rawGet(t *testing.T, srv *httptest.Server, path string, readBuf int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if readBuf > 0 {
		_ = c.(*net.TCPConn).SetReadBuffer(readBuf)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	return c
}

func TestWriteProgressDropsStalledClient(t *testing.T) {
	t.Parallel()
	done := make(chan error, 1)
	h := WriteProgress(300 * time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for range 256 { // far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	rawGet(t, srv, "/", 4096) // and never read
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("256 MiB written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stalled client was not dropped")
	}
}

func TestWriteProgressKeepsSlowReaders(t *testing.T) {
	t.Parallel()
	const size = 32 << 20
	h := WriteProgress(300 * time.Millisecond)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.Write(make([]byte, size))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := rawGet(t, srv, "/", 0)
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for {
		m, err := io.CopyN(io.Discard, resp.Body, 1<<20)
		n += m
		if err != nil {
			break
		}
		time.Sleep(25 * time.Millisecond) // slow, but never stalled for 300ms
	}
	if n != size {
		t.Fatalf("slow reader got %d of %d bytes after %v", n, size, time.Since(start))
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Logf("download took only %v: the deadline was not really exercised", d)
	}
}

// readFromRecorder is a ResponseWriter whose ReadFrom records the readers
// it is handed, the way net/http's would hand them to sendfile.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	readers []io.Reader
	sizes   []int64       // each LimitedReader's N when handed over
	delay   time.Duration // a slow client: each call takes this long
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readers = append(r.readers, src)
	if l, ok := src.(*io.LimitedReader); ok {
		r.sizes = append(r.sizes, l.N)
	}
	time.Sleep(r.delay)
	return io.Copy(r.ResponseRecorder, src)
}

func TestWriteProgressReadFromKeepsFiles(t *testing.T) {
	t.Parallel()
	const size = 3*progressFileChunk + 1234
	path := filepath.Join(t.TempDir(), "blob")
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	// stall/256 is 14 s here: every chunk counts as fast.
	pw := &progressWriter{ResponseWriter: rec, rc: http.NewResponseController(rec), stall: time.Hour, ok: true}
	// http.ServeContent hands over an io.LimitedReader around the file.
	lr := &io.LimitedReader{R: f, N: size - 100}
	n, err := pw.ReadFrom(lr)
	if err != nil || n != size-100 || lr.N != 0 {
		t.Fatalf("ReadFrom = %d, %v; LimitedReader.N = %d", n, err, lr.N)
	}
	if !bytes.Equal(rec.Body.Bytes(), data[:size-100]) {
		t.Fatal("bytes differ")
	}
	// A fast client: the chunks double (256 KiB, 512 KiB, the rest).
	if len(rec.readers) != 3 || rec.sizes[0] != progressFileChunk || rec.sizes[1] != 2*progressFileChunk {
		t.Fatalf("chunks %v, want %d, %d and the rest", rec.sizes, progressFileChunk, 2*progressFileChunk)
	}
	for _, r := range rec.readers {
		l, ok := r.(*io.LimitedReader)
		if !ok || l.R != f {
			t.Fatalf("chunk reader %T is not a LimitedReader over the file: sendfile would be lost", r)
		}
	}

	// A slow client (each chunk takes longer than stall/256): the chunks
	// stay small, so each one fits well within the stall timeout.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	slow := &readFromRecorder{ResponseRecorder: httptest.NewRecorder(), delay: 10 * time.Millisecond}
	pw = &progressWriter{ResponseWriter: slow, rc: http.NewResponseController(slow), stall: time.Second, ok: true}
	if n, err := pw.ReadFrom(&io.LimitedReader{R: f, N: size}); err != nil || n != size {
		t.Fatalf("slow ReadFrom = %d, %v", n, err)
	}
	if len(slow.sizes) != 4 || slow.sizes[0] != progressFileChunk || slow.sizes[2] != progressFileChunk {
		t.Fatalf("slow client's chunks %v, want 3 of %d and the rest", slow.sizes, progressFileChunk)
	}
	// A reader of unknown length is copied to its end.
	rec2 := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	pw2 := &progressWriter{ResponseWriter: rec2, rc: http.NewResponseController(rec2), stall: time.Second, ok: true}
	if n, err := pw2.ReadFrom(bytes.NewReader(data)); err != nil || n != size {
		t.Fatalf("ReadFrom(unknown length) = %d, %v", n, err)
	}
}

func TestWriteProgressWithoutDeadlines(t *testing.T) {
	t.Parallel()
	// A recorder supports no deadlines: writes go through all the same.
	w := httptest.NewRecorder()
	WriteProgress(0)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		w.Write(make([]byte, 200<<10))
		http.NewResponseController(w).Flush()
	})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 201 || w.Body.Len() != 200<<10 || !w.Flushed {
		t.Fatalf("status %d, %d bytes, flushed %v", w.Code, w.Body.Len(), w.Flushed)
	}
}
