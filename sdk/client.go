package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Client calls a node's protected routes with tokens from a TokenSource.
type Client struct {
	// Node is the node's base URL. Required.
	Node string
	// Tokens gives the access token of each call. Required.
	Tokens *TokenSource
	// HTTPClient defaults to a 10 s client.
	HTTPClient *http.Client
}

// Redemption is what redeeming an online QR code tells a relying party:
// its own pairwise ID for the holder, the assurance level (1 to 4), the
// issuing region and the claims both consented and allowed.
type Redemption struct {
	PairwiseID     string            `json:"pairwise_id"`
	AssuranceLevel int               `json:"assurance_level"`
	Region         string            `json:"region"`
	Claims         map[string]string `json:"claims,omitempty"`
}

// RedeemQR redeems an online code ("TIDON1:...") at the node (scope
// qr:redeem), or has the node verify an offline code ("TIDOFF2:...") of
// any region, with the same answer. A code is single use. Errors of the
// node are *NodeError and match the qrcode sentinels:
// qrcode.ErrCodeUsed, qrcode.ErrCodeExpired, qrcode.ErrRevoked,
// qrcode.ErrReplayed, ...
func (c *Client) RedeemQR(ctx context.Context, code string) (*Redemption, error) {
	var r Redemption
	if err := c.post(ctx, "/v1/qr/verify", map[string]string{"code": code}, &r); err != nil {
		return nil, err
	}
	if r.PairwiseID == "" || r.AssuranceLevel < 1 || r.AssuranceLevel > 4 {
		return nil, errors.New("sdk: the node's redemption answer lacks a pairwise ID or assurance level")
	}
	return &r, nil
}

// post sends in as JSON with a bearer token and decodes a 200 answer into
// out.
func (c *Client) post(ctx context.Context, path string, in, out any) error {
	if c.Tokens == nil || c.Node == "" {
		return errors.New("sdk: Client needs Node and Tokens")
	}
	tok, err := c.Tokens.Token(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, trimBase(c.Node)+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	body, err := do(c.HTTPClient, req, http.StatusOK)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("sdk: %s answer: %w", path, err)
	}
	return nil
}
