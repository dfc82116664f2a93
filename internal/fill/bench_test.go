package fill

import (
	"context"
	"os"
	"testing"

	"github.com/opencontainers/go-digest"
)

// BenchmarkDownload measures a download from an in-memory upstream into a
// temporary file, hashing taking turns with reading and writing (serial,
// one chunk) or running alongside them (pipelined, the default).
//
//	go test -run '^$' -bench Download -benchtime 20x ./internal/fill/
func BenchmarkDownload(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	d := digest.FromBytes(data)
	commit := func(_ context.Context, _ digest.Digest, _ int64, path string) error { return os.Remove(path) }
	for _, c := range []struct {
		name    string
		buffers int
	}{{"serial", 1}, {"pipelined", hashBuffers}} {
		b.Run(c.name, func(b *testing.B) {
			m := New(Options{Dir: b.TempDir()})
			m.hashBuffers = c.buffers
			src := &source{data: data}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, _ := m.Start(d, src.open, commit)
				if err := f.Wait(context.Background()); err != nil {
					b.Fatal(err)
				}
				f.Release()
			}
		})
	}
}
