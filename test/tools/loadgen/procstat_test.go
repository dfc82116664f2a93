package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStatPPID(t *testing.T) {
	tests := []struct {
		stat string
		ppid int
		ok   bool
	}{
		{"123 (nginx) S 1 123 123 0", 1, true},
		{"7 (a) b (c)) R 42 7 7", 42, true},
		{"garbage", 0, false},
	}
	for _, tt := range tests {
		got, ok := statPPID([]byte(tt.stat))
		if got != tt.ppid || ok != tt.ok {
			t.Errorf("statPPID(%q) = %d, %v", tt.stat, got, ok)
		}
	}
}

func TestTreeMemorySumsDescendants(t *testing.T) {
	proc := t.TempDir()
	write := func(pid, stat, status string) {
		d := filepath.Join(proc, pid)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644)
		os.WriteFile(filepath.Join(d, "status"), []byte(status), 0o644)
	}
	write("10", "10 (nginx) S 1 10", "Name:\tnginx\nVmHWM:\t    1000 kB\nVmRSS:\t     800 kB\n")
	write("11", "11 (nginx) S 10 10", "VmHWM:\t 200 kB\nVmRSS:\t 150 kB\n")
	write("12", "12 (nginx) S 10 10", "VmHWM:\t 300 kB\nVmRSS:\t 250 kB\n")
	write("13", "13 (other) S 1 13", "VmHWM:\t 9999 kB\nVmRSS:\t 9999 kB\n")
	r, err := treeMemory(proc, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r.HWMKiB != 1500 || r.RSSKiB != 1200 || r.Procs != 3 {
		t.Errorf("treeMemory = %+v, want 1500/1200 over 3 processes", r)
	}
	if _, err := treeMemory(proc, 99); err == nil {
		t.Error("a missing process was not an error")
	}
	self, err := treeMemory("/proc", os.Getpid())
	if err != nil || self.HWMKiB <= 0 {
		t.Errorf("own memory: %+v, %v", self, err)
	}
}
