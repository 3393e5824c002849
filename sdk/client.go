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
	// Node is the node's base URL: https, or http to a loopback host
	// (ErrInsecureURL). Required.
	Node string
	// Tokens gives the access token of each call. Required.
	Tokens *TokenSource
	// HTTPClient defaults to a 10 s client.
	HTTPClient *http.Client
}

// Redemption is what redeeming an online QR code tells a relying party:
// its own pairwise ID for the holder, the assurance level (1 to 4), the
// issuing region and the claims both consented and allowed.
//
// For a guardian's delegated offline code, PairwiseID is the party's ID
// for the principal (the person acted for), Act names who presented it
// and Action is what the delegation allowed; no claim is given. Act is
// nil for a code the holder presented for themself.
type Redemption struct {
	PairwiseID     string            `json:"pairwise_id"`
	AssuranceLevel int               `json:"assurance_level"`
	Region         string            `json:"region"`
	Claims         map[string]string `json:"claims,omitempty"`
	Act            *Actor            `json:"act,omitempty"`
	Action         string            `json:"action,omitempty"`
}

// Actor is who presented a delegated code: the party's own pairwise ID
// for them, and their relationship to the principal (guardian, family or
// agent).
type Actor struct {
	PairwiseID   string `json:"pairwise_id"`
	Relationship string `json:"relationship"`
}

// RedeemQR redeems an online code ("TIDON1:...") at the node (scope
// qr:redeem), or has the node verify an offline code ("TIDOFF2:...") of
// any region, with the same answer. A code is single use. Errors of the
// node are *NodeError and match the qrcode sentinels:
// qrcode.ErrCodeUsed, qrcode.ErrCodeExpired, qrcode.ErrRevoked,
// qrcode.ErrReplayed, ... An access token the node refuses (revoked
// there before it expired) is replaced and the code sent once more.
func (c *Client) RedeemQR(ctx context.Context, code string) (*Redemption, error) {
	return c.RedeemQRFor(ctx, code, "")
}

// RedeemQRFor is RedeemQR for an action (qrcode.ActionPresent,
// qrcode.ActionPickup, ...): a delegated offline code must allow it, and
// the answer's Act and Action say who presented it for whom (RedeemQR,
// which names no action, gets a delegated code refused). An action is
// refused with an online code. Errors match qrcode.ErrDelegationScope,
// qrcode.ErrDelegationExpired and qrcode.ErrDelegation besides RedeemQR's.
func (c *Client) RedeemQRFor(ctx context.Context, code, action string) (*Redemption, error) {
	in := map[string]string{"code": code}
	if action != "" {
		in["action"] = action
	}
	var r Redemption
	if err := c.post(ctx, "/v1/qr/verify", in, &r); err != nil {
		return nil, err
	}
	if r.PairwiseID == "" || r.AssuranceLevel < 1 || r.AssuranceLevel > 4 {
		return nil, errors.New("sdk: the node's redemption answer lacks a pairwise ID or assurance level")
	}
	if r.Act != nil && r.Act.PairwiseID == "" {
		return nil, errors.New("sdk: the node's answer names an actor without a pairwise ID")
	}
	return &r, nil
}

// post sends in as JSON with a bearer token and decodes a 200 answer into
// out. A token the node refuses (401 invalid_token: revoked at the node,
// or its client's keys or the node's changed) is dropped from Tokens and
// the request sent once more with a new one: the node refused it before
// reading the request, so nothing was done.
func (c *Client) post(ctx context.Context, path string, in, out any) error {
	if c.Tokens == nil || c.Node == "" {
		return errors.New("sdk: Client needs Node and Tokens")
	}
	if err := checkBase(c.Node); err != nil {
		return err
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	body, err := c.send(ctx, path, b)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("sdk: %s answer: %w", path, err)
	}
	return nil
}

// send posts body to path with a token of c.Tokens, and once more with
// a new token when the node refuses the first.
func (c *Client) send(ctx context.Context, path string, body []byte) ([]byte, error) {
	for retried := false; ; retried = true {
		tok, err := c.Tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, trimBase(c.Node)+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		answer, err := do(c.HTTPClient, req, http.StatusOK)
		var ne *NodeError
		if retried || !errors.As(err, &ne) || ne.Status != http.StatusUnauthorized || ne.Code != "invalid_token" {
			return answer, err
		}
		c.Tokens.drop(tok)
	}
}
