package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"time"
)

// signer issues ES256 JSON Web Tokens whose header carries the signing
// certificate (x5c). CNCF distribution's `auth: token` verifies such a token
// by checking that the x5c certificate chains to its rootcertbundle, so the
// registry needs nothing but the PEM file writeCert produces.
type signer struct {
	key     *ecdsa.PrivateKey
	certDER []byte
}

// newSigner makes a fresh P-256 key and a self-signed CA certificate for it,
// valid from an hour ago (clock skew) for a day.
func newSigner() (*signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "regmirror test token signer"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &signer{key: key, certDER: der}, nil
}

// writeCert writes the certificate as PEM, for auth.token.rootcertbundle.
// It writes to a temporary name first so that a script polling for the file
// never reads half of it.
func (s *signer) writeCert(path string) error {
	tmp := path + ".tmp"
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.certDER})
	if err := os.WriteFile(tmp, block, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// sign returns header.claims.signature, each part base64url without padding.
// An ES256 signature is r||s, each left-padded to 32 bytes (RFC 7518 §3.4),
// not the ASN.1 form ecdsa.SignASN1 produces.
func (s *signer) sign(claims any) (string, error) {
	header := map[string]any{
		"typ": "JWT",
		"alg": "ES256",
		"x5c": []string{base64.StdEncoding.EncodeToString(s.certDER)},
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig), nil
}
