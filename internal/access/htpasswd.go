package access

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// maxHtpasswdSize bounds the htpasswd file read into memory.
const maxHtpasswdSize = 16 << 20

// parseHtpasswd reads "user:hash" lines. Only bcrypt hashes ($2a$, $2b$,
// $2y$, as `htpasswd -B` writes) are accepted: the other htpasswd formats
// (MD5-crypt, SHA-1, crypt) are too weak to offer. Blank lines and lines
// starting with '#' are skipped.
func parseHtpasswd(data []byte) (map[string][]byte, error) {
	users := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || user == "":
			return nil, fmt.Errorf("line %d: want user:hash", n)
		case !isBcrypt(hash):
			return nil, fmt.Errorf("line %d: user %q: only bcrypt entries are supported (create them with htpasswd -B)", n, user)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("line %d: user %q is listed twice", n, user)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return users, nil
}

func isBcrypt(hash string) bool {
	for _, p := range []string{"$2a$", "$2b$", "$2y$"} {
		if strings.HasPrefix(hash, p) {
			return true
		}
	}
	return false
}

// readHtpasswd reads and parses the file at path, with its identity for
// change detection.
func readHtpasswd(path string) (map[string][]byte, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, err
	}
	if fi.Size() > maxHtpasswdSize {
		return nil, fileStamp{}, fmt.Errorf("%s: larger than %d bytes", path, maxHtpasswdSize)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, fileStamp{}, err
	}
	users, err := parseHtpasswd(data)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("%s: %w", path, err)
	}
	return users, fileStamp{mod: fi.ModTime().UnixNano(), size: fi.Size()}, nil
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	mod, size int64
}
