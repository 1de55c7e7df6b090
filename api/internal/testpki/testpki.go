// Package testpki generates a throwaway PKI for tests: an ECDSA P-256 CA, a server certificate
// for 127.0.0.1, ::1 and localhost, and client certificates by common name, written as PEM files
// into a per-test directory. Nothing is committed; every key is made fresh at test time.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// PKI is a test certificate authority and the files it wrote. Its methods are safe for
// concurrent use; each call writes new files with unique names under Dir.
type PKI struct {
	// Dir is the per-test directory (t.TempDir) holding the files.
	Dir string
	// CAFile is the CA certificate, PEM: use it as a client CA file or as clients' root.
	CAFile string
	// ServerCertFile and ServerKeyFile are the server key pair, PEM, valid for 127.0.0.1, ::1 and localhost.
	ServerCertFile, ServerKeyFile string
	// CAPool holds the CA certificate, for clients' tls.Config.RootCAs.
	CAPool *x509.CertPool

	ca    *authority
	files atomic.Int64
}

// authority is a CA certificate and its key.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// New creates a CA and a server key pair in t.TempDir(). It fails t on any error.
func New(t testing.TB) *PKI {
	t.Helper()
	ca := newAuthority(t, "testpki CA")
	p := &PKI{Dir: t.TempDir(), ca: ca, CAPool: x509.NewCertPool()}
	p.CAPool.AddCert(ca.cert)
	p.CAFile = filepath.Join(p.Dir, "ca.pem")
	writeFile(t, p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	p.ServerCertFile, p.ServerKeyFile = p.ServerFiles(t, "localhost")
	return p
}

// ServerFiles issues a new server key pair signed by the CA, with the given subject common name
// and valid for 127.0.0.1, ::1 and localhost, writes it under Dir and returns the file names.
// Use it to test certificate rotation.
func (p *PKI) ServerFiles(t testing.TB, commonName string) (certFile, keyFile string) {
	t.Helper()
	tmpl := leafTemplate(t, commonName, x509.ExtKeyUsageServerAuth)
	tmpl.DNSNames = []string{"localhost"}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	return p.writePair(t, "server", issue(t, p.ca, tmpl))
}

// Client issues a client certificate with the given subject common name, signed by the CA.
func (p *PKI) Client(t testing.TB, commonName string) tls.Certificate {
	t.Helper()
	return issue(t, p.ca, leafTemplate(t, commonName, x509.ExtKeyUsageClientAuth))
}

// ClientFiles is Client, written as PEM files under Dir.
func (p *PKI) ClientFiles(t testing.TB, commonName string) (certFile, keyFile string) {
	t.Helper()
	return p.writePair(t, "client", p.Client(t, commonName))
}

// Untrusted issues a client certificate with the given common name, signed by a new CA that
// nothing trusts: servers verifying against CAFile must reject it.
func (p *PKI) Untrusted(t testing.TB, commonName string) tls.Certificate {
	t.Helper()
	other := newAuthority(t, "testpki untrusted CA")
	return issue(t, other, leafTemplate(t, commonName, x509.ExtKeyUsageClientAuth))
}

// writePair writes cert's chain and key as PEM files with unique names.
func (p *PKI) writePair(t testing.TB, prefix string, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	n := p.files.Add(1)
	certFile = filepath.Join(p.Dir, prefix+"-"+itoa(n)+".pem")
	keyFile = filepath.Join(p.Dir, prefix+"-"+itoa(n)+"-key.pem")
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatalf("testpki: marshal key: %v", err)
	}
	writeFile(t, certFile, chain)
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	return certFile, keyFile
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newAuthority(t testing.TB, name string) *authority {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testpki: create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parse CA: %v", err)
	}
	return &authority{cert: cert, key: key}
}

func leafTemplate(t testing.TB, commonName string, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	return &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
}

// issue signs tmpl with ca and returns the key pair, its chain holding the leaf only.
func issue(t testing.TB, ca *authority, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("testpki: issue %q: %v", tmpl.Subject.CommonName, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parse %q: %v", tmpl.Subject.CommonName, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testpki: serial: %v", err)
	}
	return n
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("testpki: %v", err)
	}
}
