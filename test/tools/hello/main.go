// Command hello is the entrypoint of the e2e test images (see seed_image in
// test/e2e/lib.sh). It prints which image it runs in, read from
// /etc/image-name, and the platform it was built for:
//
//	hello from library/nginx:latest (amd64) on linux/amd64
//
// It is built statically for linux/amd64 and linux/arm64 by
// scripts/install-deps.sh into bin/hello-linux-<arch>.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	name, err := os.ReadFile("/etc/image-name")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Printf("hello from %s on %s/%s\n", strings.TrimSpace(string(name)), runtime.GOOS, runtime.GOARCH)
}
