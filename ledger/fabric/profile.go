package fabric

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ccp is the part of a Fabric common connection profile (YAML or JSON)
// that a client needs; other sections are ignored.
type ccp struct {
	Client struct {
		Organization string `yaml:"organization"`
	} `yaml:"client"`
	Organizations map[string]struct {
		MSPID           string   `yaml:"mspid"`
		Peers           []string `yaml:"peers"`
		SignedCert      pemRef   `yaml:"signedCert"`
		AdminPrivateKey pemRef   `yaml:"adminPrivateKey"`
	} `yaml:"organizations"`
	Peers map[string]struct {
		URL         string         `yaml:"url"`
		TLSCACerts  pemRef         `yaml:"tlsCACerts"`
		GRPCOptions map[string]any `yaml:"grpcOptions"`
	} `yaml:"peers"`
	Channels map[string]any `yaml:"channels"`
}

type pemRef struct {
	Path string `yaml:"path"`
	PEM  string `yaml:"pem"`
}

const maxProfile = 1 << 20

func (r pemRef) load(dir, what string) ([]byte, error) {
	switch {
	case r.PEM != "":
		return []byte(r.PEM), nil
	case r.Path != "":
		p := r.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrConfig, what, err)
		}
		return b, nil
	}
	return nil, nil
}

// LoadProfile reads a Fabric common connection profile: the client's
// organization (client.organization) gives the MSP ID, the certificate
// (signedCert) and key (adminPrivateKey) of the identity, and its first
// peer the endpoint (url), TLS CA (tlsCACerts) and server name
// (grpcOptions.ssl-target-name-override); the channel is the profile's
// only channel, if it names one. Paths are relative to the profile's
// folder. Fields the profile lacks stay empty for flags to fill.
func LoadProfile(path string) (Config, error) {
	var cfg Config
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("%w: connection profile: %v", ErrConfig, err)
	}
	if len(raw) > maxProfile {
		return cfg, fmt.Errorf("%w: connection profile over %d bytes", ErrConfig, maxProfile)
	}
	var p ccp
	if err := yaml.Unmarshal(raw, &p); err != nil {
		return cfg, fmt.Errorf("%w: connection profile %s: %v", ErrConfig, path, err)
	}
	dir := filepath.Dir(path)
	orgName := p.Client.Organization
	org, ok := p.Organizations[orgName]
	if !ok {
		return cfg, fmt.Errorf("%w: connection profile %s: client.organization %q is not under organizations", ErrConfig, path, orgName)
	}
	cfg.MSPID = org.MSPID
	if cfg.CertPEM, err = org.SignedCert.load(dir, "signedCert"); err != nil {
		return cfg, err
	}
	if cfg.KeyPEM, err = org.AdminPrivateKey.load(dir, "adminPrivateKey"); err != nil {
		return cfg, err
	}
	if len(org.Peers) > 0 {
		peer, ok := p.Peers[org.Peers[0]]
		if !ok {
			return cfg, fmt.Errorf("%w: connection profile %s: peer %q is not under peers", ErrConfig, path, org.Peers[0])
		}
		u := peer.URL
		for _, scheme := range []string{"grpcs://", "grpc://"} {
			u = strings.TrimPrefix(u, scheme)
		}
		if strings.HasPrefix(peer.URL, "grpc://") {
			return cfg, fmt.Errorf("%w: peer %q: plain grpc:// is not supported, use grpcs://", ErrConfig, org.Peers[0])
		}
		cfg.PeerEndpoint = u
		if cfg.TLSCAPEM, err = peer.TLSCACerts.load(dir, "tlsCACerts"); err != nil {
			return cfg, err
		}
		if sn, ok := peer.GRPCOptions["ssl-target-name-override"].(string); ok {
			cfg.ServerName = sn
		}
	}
	if len(p.Channels) == 1 {
		names := make([]string, 0, 1)
		for n := range p.Channels {
			names = append(names, n)
		}
		sort.Strings(names)
		cfg.Channel = names[0]
	}
	return cfg, nil
}
