package config

import (
	"fmt"
	"os"
	"strings"
)

// EnvS3SecretKey is the environment variable read for the S3 secret key
// when storage.s3.secretKey is empty, so that the secret need not be
// written in the file.
const EnvS3SecretKey = "REGMIRROR_S3_SECRET_KEY"

// ResolvePassword returns the upstream's password: the content of
// PasswordFile (surrounding whitespace and the final newline trimmed) when
// it is set, else Password. An unreadable or empty password file is an error.
func (u *Upstream) ResolvePassword() (string, error) {
	if u.PasswordFile == "" {
		return u.Password, nil
	}
	b, err := os.ReadFile(u.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("upstream %s: passwordFile: %w", u.Name, err)
	}
	p := strings.TrimSpace(string(b))
	if p == "" {
		return "", fmt.Errorf("upstream %s: passwordFile %s is empty", u.Name, u.PasswordFile)
	}
	return p, nil
}

// ResolveSecretKey returns SecretKey, or the value of the environment
// variable REGMIRROR_S3_SECRET_KEY when SecretKey is empty.
func (s *S3) ResolveSecretKey() string {
	if s.SecretKey != "" {
		return s.SecretKey
	}
	return os.Getenv(EnvS3SecretKey)
}
