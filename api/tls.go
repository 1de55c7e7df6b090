package api

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// TLSOptions configures the server's TLS. The zero value means plaintext.
type TLSOptions struct {
	// CertFile and KeyFile are the PEM server certificate chain and private key. Both or neither.
	// They are re-read when they change on disk, so certificates can be rotated without a restart.
	CertFile, KeyFile string
	// ClientCAFile is a PEM bundle of CAs that sign client certificates. When set, clients may
	// present a certificate and its subject common name authenticates them (see Authenticator);
	// clients without one can still connect and use a bearer token. Read once at start.
	ClientCAFile string
	// RequireClientCert rejects connections without a certificate signed by ClientCAFile.
	// It needs ClientCAFile.
	RequireClientCert bool
}

// Enabled reports whether TLS is configured (CertFile is set).
func (o TLSOptions) Enabled() bool { return o.CertFile != "" }

// certReloadInterval is how often, at most, the key pair files are checked for changes.
const certReloadInterval = time.Second

// ServerTLSConfig builds the server's TLS configuration from o: TLS 1.2 or later, the key pair
// served through GetCertificate and reloaded from disk when either file changes (checked at most
// once per second, on a handshake), and client certificates verified against ClientCAFile when it is
// set (tls.VerifyClientCertIfGiven, or tls.RequireAndVerifyClientCert with RequireClientCert).
//
// Every problem is reported at once, joined with errors.Join: missing or unset files, bad PEM,
// a key that does not match the certificate, a CA file without certificates, RequireClientCert
// without ClientCAFile. The returned config is safe for concurrent use by servers.
func ServerTLSConfig(o TLSOptions) (*tls.Config, error) {
	return serverTLSConfig(o, time.Now)
}

// serverTLSConfig is ServerTLSConfig with the reload clock injected.
func serverTLSConfig(o TLSOptions, now func() time.Time) (*tls.Config, error) {
	var errs []error
	if o.CertFile == "" {
		errs = append(errs, errors.New("tls: cert file is not set"))
	}
	if o.KeyFile == "" {
		errs = append(errs, errors.New("tls: key file is not set"))
	}
	if o.RequireClientCert && o.ClientCAFile == "" {
		errs = append(errs, errors.New("tls: requiring client certificates needs a client CA file"))
	}

	var r *certReloader
	if o.CertFile != "" && o.KeyFile != "" {
		r = &certReloader{certFile: o.CertFile, keyFile: o.KeyFile, now: now}
		if err := r.load(); err != nil {
			errs = append(errs, err)
		}
	}

	var clientCAs *x509.CertPool
	if o.ClientCAFile != "" {
		pool, err := loadCertPool(o.ClientCAFile)
		if err != nil {
			errs = append(errs, err)
		}
		clientCAs = pool
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.getCertificate,
	}
	if clientCAs != nil {
		cfg.ClientCAs = clientCAs
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if o.RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// loadCertPool reads a PEM CA bundle.
func loadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls: client CA file %s: no PEM certificates found", path)
	}
	return pool, nil
}

// fileStamp identifies a version of a file, to notice rotation by rewrite, rename or symlink swap
// (as Kubernetes secret volumes do).
type fileStamp struct {
	info os.FileInfo
}

// same reports whether s and o describe the same version of a file.
func (s fileStamp) same(o fileStamp) bool {
	if s.info == nil || o.info == nil {
		return false
	}
	return os.SameFile(s.info, o.info) && s.info.ModTime().Equal(o.info.ModTime()) && s.info.Size() == o.info.Size()
}

// certReloader serves a key pair and reloads it when its files change. mu guards every field below it.
type certReloader struct {
	certFile, keyFile string
	now               func() time.Time

	mu                  sync.Mutex
	cert                *tls.Certificate
	certStamp, keyStamp fileStamp
	checked             time.Time
}

// getCertificate is tls.Config.GetCertificate. It checks the files at most once per
// certReloadInterval. If a changed pair fails to load (for example, the certificate has been
// written but the key not yet), it keeps serving the previous pair and retries at the next check.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= certReloadInterval || now.Before(r.checked) {
		r.checked = now
		if r.changedLocked() {
			_ = r.loadLocked() // On failure the previous pair stays in use.
		}
	}
	return r.cert, nil
}

// changedLocked reports whether either file differs from the loaded version. r.mu must be held.
func (r *certReloader) changedLocked() bool {
	cs, cerr := stat(r.certFile)
	ks, kerr := stat(r.keyFile)
	if cerr != nil || kerr != nil {
		return false // Mid-rotation, or gone: keep serving what we have.
	}
	return !cs.same(r.certStamp) || !ks.same(r.keyStamp)
}

func stat(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	return fileStamp{info: fi}, err
}

// load loads the key pair for the first time.
func (r *certReloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = r.now()
	return r.loadLocked()
}

// loadLocked reads, checks and installs the key pair, recording the files' versions as read
// before the contents, so a change during the read is seen at the next check. r.mu must be held.
func (r *certReloader) loadLocked() error {
	cs, _ := stat(r.certFile)
	ks, _ := stat(r.keyFile)
	cert, err := loadKeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	r.cert, r.certStamp, r.keyStamp = cert, cs, ks
	return nil
}

// loadKeyPair reads and checks a PEM certificate chain and private key, reporting every problem at once.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	var errs []error
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		errs = append(errs, fmt.Errorf("tls: cert file: %w", err))
	} else if err := checkCertPEM(certPEM); err != nil {
		errs = append(errs, fmt.Errorf("tls: cert file %s: %w", certFile, err))
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		errs = append(errs, fmt.Errorf("tls: key file: %w", err))
	} else if err := checkKeyPEM(keyPEM); err != nil {
		errs = append(errs, fmt.Errorf("tls: key file %s: %w", keyFile, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Both files parse on their own, so this is a mismatch or an unsupported key.
		return nil, fmt.Errorf("tls: key pair %s, %s: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// checkCertPEM checks that data holds at least one PEM certificate and that each parses.
func checkCertPEM(data []byte) error {
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		n++
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n, err)
		}
	}
	if n == 0 {
		return errors.New("no PEM certificate found")
	}
	return nil
}

// checkKeyPEM checks that data holds a PEM private key. The key's contents are never put in errors.
func checkKeyPEM(data []byte) error {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return errors.New("no PEM private key found")
		}
		if b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY") {
			return nil
		}
	}
}
