// Command trustid-chaincode serves TrustID's contract (package chaincode)
// to Fabric peers as chaincode-as-a-service: the peer dials this process.
//
//	CHAINCODE_ID=<package id> CHAINCODE_SERVER_ADDRESS=127.0.0.1:27999 trustid-chaincode
//
// TLS toward the peers is on when CHAINCODE_TLS_CERT and CHAINCODE_TLS_KEY
// name PEM files (and CHAINCODE_TLS_CLIENT_CA, if set, requires the peers'
// client certificates; set without them, it is refused); without them it
// serves plain gRPC, for loopback development networks only.
//
// `trustid-chaincode healthcheck` exits 0 if the server accepts TCP
// connections on CHAINCODE_SERVER_ADDRESS's port (on loopback when the
// address names no host or all interfaces): the container healthcheck of
// an image with no shell.
//
// The same binary is the project's CCaaS external builder for the peer:
// installed (or linked) under the names detect, build and release in a
// builder's bin/ directory, it acts as that step (see builder.go).
package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"
	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/trustid-cn/trustid/chaincode"
)

func main() {
	var err error
	switch name := filepath.Base(os.Args[0]); name {
	case "detect":
		err = detect(os.Args[1:])
	case "build":
		err = build(os.Args[1:])
	case "release":
		err = release(os.Args[1:])
	default:
		if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
			err = healthcheck(os.Getenv("CHAINCODE_SERVER_ADDRESS"))
			break
		}
		err = serve()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

func serve() error {
	ccid, addr := os.Getenv("CHAINCODE_ID"), os.Getenv("CHAINCODE_SERVER_ADDRESS")
	if ccid == "" || addr == "" {
		return fmt.Errorf("CHAINCODE_ID (the package ID) and CHAINCODE_SERVER_ADDRESS (host:port) must be set")
	}
	tls, err := tlsProperties()
	if err != nil {
		return err
	}
	srv := &shim.ChaincodeServer{CCID: ccid, Address: addr, CC: contract{}, TLSProps: tls}
	fmt.Fprintf(os.Stderr, "trustid-chaincode: serving %s on %s (tls %v)\n", ccid, addr, !tls.Disabled)
	return srv.Start()
}

// tlsProperties reads the server's TLS settings from CHAINCODE_TLS_CERT,
// CHAINCODE_TLS_KEY and CHAINCODE_TLS_CLIENT_CA; none of them: plain
// gRPC. A client CA without a certificate and key is refused: the
// server would be plain and check no client certificate.
func tlsProperties() (shim.TLSProperties, error) {
	certFile, keyFile, caFile := os.Getenv("CHAINCODE_TLS_CERT"), os.Getenv("CHAINCODE_TLS_KEY"), os.Getenv("CHAINCODE_TLS_CLIENT_CA")
	if certFile == "" && keyFile == "" {
		if caFile != "" {
			return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_CLIENT_CA is set without CHAINCODE_TLS_CERT and CHAINCODE_TLS_KEY: the server would serve plain gRPC and check no peer's certificate")
		}
		return shim.TLSProperties{Disabled: true}, nil
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_CERT: %w", err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_KEY: %w", err)
	}
	tls := shim.TLSProperties{Cert: cert, Key: key}
	if caFile != "" {
		if tls.ClientCACerts, err = os.ReadFile(caFile); err != nil {
			return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_CLIENT_CA: %w", err)
		}
	}
	return tls, nil
}

// healthcheck dials the chaincode server at addr (host:port), on
// loopback when the host is empty or unspecified.
func healthcheck(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("CHAINCODE_SERVER_ADDRESS %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// contract adapts chaincode.Invoke to the shim.
type contract struct{}

func (contract) Init(stub shim.ChaincodeStubInterface) *peer.Response { return shim.Success(nil) }

func (contract) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	fn, _ := stub.GetFunctionAndParameters()
	args := stub.GetArgs()
	if len(args) == 0 {
		return shim.Error(chaincode.WireMessage(chaincode.ErrUnknownFunc))
	}
	out, err := chaincode.Invoke(stubState{stub}, fn, args[1:])
	if err != nil {
		return shim.Error(chaincode.WireMessage(err))
	}
	return shim.Success(out)
}

// stubState is chaincode.State over the Fabric stub.
type stubState struct{ stub shim.ChaincodeStubInterface }

func (s stubState) Get(key string) ([]byte, error)         { return s.stub.GetState(key) }
func (s stubState) Put(key string, value []byte) error     { return s.stub.PutState(key, value) }
func (s stubState) Delete(key string) error                { return s.stub.DelState(key) }
func (s stubState) Emit(name string, payload []byte) error { return s.stub.SetEvent(name, payload) }
func (s stubState) Caller() (string, error)                { return cid.GetMSPID(s.stub) }
func (s stubState) TxID() string                           { return s.stub.GetTxID() }

func (s stubState) Time() (time.Time, error) {
	ts, err := s.stub.GetTxTimestamp()
	if err != nil {
		return time.Time{}, err
	}
	return ts.AsTime(), nil
}

func (s stubState) ScanPage(objectType string, attrs []string, bookmark string, limit int, fn func(string, []byte) error) (string, error) {
	it, meta, err := s.stub.GetStateByPartialCompositeKeyWithPagination(objectType, attrs, int32(limit), bookmark)
	if err != nil {
		return "", err
	}
	defer it.Close()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return "", err
		}
		if err := fn(kv.Key, kv.Value); err != nil {
			return "", err
		}
	}
	return meta.GetBookmark(), nil
}

func (s stubState) Scan(objectType string, attrs []string, fn func(string, []byte) error) error {
	it, err := s.stub.GetStateByPartialCompositeKey(objectType, attrs)
	if err != nil {
		return err
	}
	defer it.Close()
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return err
		}
		if err := fn(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}
