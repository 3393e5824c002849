package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCmd is `trustid healthcheck`: a container healthcheck for
// images with no HTTP client (the Dockerfile's is an empty base). It
// succeeds only when the URL answers 200.
func newHealthcheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if a node's /readyz (or another URL) answers 200, else 1",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, _ := cmd.Flags().GetString("url")
			timeout, _ := cmd.Flags().GetDuration("timeout")
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return fmt.Errorf("--url: %w", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
			}
			if jsonOutput(cmd) {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"url": url, "status_code": resp.StatusCode, "ready": true})
			}
			return nil
		},
	}
	cmd.Flags().String("url", "http://127.0.0.1:8080/readyz", "URL to GET")
	cmd.Flags().Duration("timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}
