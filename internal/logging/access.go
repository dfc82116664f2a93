package logging

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Access is one access-log line.
type Access struct {
	Client   string
	Method   string
	Path     string
	Status   int
	Bytes    int64
	Duration time.Duration
	Upstream string
	Cache    string
	// Time is when the request ended; zero means now.
	Time time.Time
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Access writes an access-log line at info level. It formats the line by
// hand, in the same shape as the slog handler's (text: key=value; json: one
// object), because it runs once per request and slog's generic path costs
// several allocations per line.
func (l *Logger) Access(a Access) {
	if !l.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	now := a.Time
	if now.IsZero() {
		now = time.Now()
	}
	if l.json {
		b = append(b, `{"time":"`...)
		b = l.stamps.appendNano(b, now)
		b = append(b, `","level":"INFO","msg":"request","client":`...)
		b = appendJSON(b, a.Client)
		b = append(b, `,"method":`...)
		b = appendJSON(b, a.Method)
		b = append(b, `,"path":`...)
		b = appendJSON(b, a.Path)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(a.Status), 10)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, a.Bytes, 10)
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(a.Duration), 10)
		b = append(b, `,"upstream":`...)
		b = appendJSON(b, a.Upstream)
		b = append(b, `,"cache":`...)
		b = appendJSON(b, a.Cache)
		b = append(b, "}\n"...)
	} else {
		b = append(b, "time="...)
		b = l.stamps.appendMillis(b, now)
		b = append(b, " level=INFO msg=request client="...)
		b = appendText(b, a.Client)
		b = append(b, " method="...)
		b = appendText(b, a.Method)
		b = append(b, " path="...)
		b = appendText(b, a.Path)
		b = append(b, " status="...)
		b = strconv.AppendInt(b, int64(a.Status), 10)
		b = append(b, " bytes="...)
		b = strconv.AppendInt(b, a.Bytes, 10)
		b = append(b, " duration="...)
		b = appendDuration(b, a.Duration)
		b = append(b, " upstream="...)
		b = appendText(b, a.Upstream)
		b = append(b, " cache="...)
		b = appendText(b, a.Cache)
		b = append(b, '\n')
	}
	_, _ = l.w.Write(b)
	*bp = b
	linePool.Put(bp)
}

// appendText appends s as slog's text handler would: bare when it is
// simple, quoted when empty or when it has spaces, quotes, '=' or
// non-printable characters.
func appendText(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '"' || c == '=' || c >= utf8.RuneSelf {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}

// appendJSON appends s as a JSON string.
func appendJSON(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
