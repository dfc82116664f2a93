package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cmdRSS reports the peak (VmHWM) and current (VmRSS) resident memory of a
// process and all its descendants, summed: one number for a single Go
// server, master plus workers for nginx.
func cmdRSS(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rss", flag.ContinueOnError)
	lb := addLabels(fs)
	pid := fs.Int("pid", 0, "process id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pid <= 0 {
		return errors.New("rss: -pid is required")
	}
	r, err := treeMemory("/proc", *pid)
	if err != nil {
		return err
	}
	return lb.emit(stdout, r)
}

// treeMemory sums VmHWM and VmRSS over pid and its descendants, read from
// the proc filesystem mounted at proc.
func treeMemory(proc string, pid int) (Result, error) {
	r := Result{Kind: "rss"}
	pids := append([]int{pid}, descendants(proc, pid)...)
	for _, p := range pids {
		b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(p), "status"))
		if err != nil {
			if p == pid {
				return r, err
			}
			continue // a child that just exited
		}
		hwm, rss := statusKiB(b, "VmHWM:"), statusKiB(b, "VmRSS:")
		r.HWMKiB += hwm
		r.RSSKiB += rss
		r.Procs++
	}
	return r, nil
}

// descendants lists the processes below pid, from each /proc/N/stat's ppid.
func descendants(proc string, pid int) []int {
	ents, _ := os.ReadDir(proc)
	children := map[int][]int{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if pp, ok := statPPID(b); ok {
			children[pp] = append(children[pp], n)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// statPPID reads the ppid (4th field) of /proc/N/stat; the command name in
// field 2 may hold spaces and parentheses, so parsing starts after the last ')'.
func statPPID(b []byte) (int, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	return n, err == nil
}

// statusKiB returns the value of a "Key:   123 kB" line of /proc/N/status.
func statusKiB(status []byte, key string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key); ok {
			var n int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &n); err == nil {
				return n
			}
		}
	}
	return 0
}
