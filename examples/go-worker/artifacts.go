package main

// Artifacts over presigned URLs with plain net/http: the worker holds no storage credential.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// download presigns a GET for `key` (relative to the attempt's folder, or absolute `runs/...`
// inside the run) and returns the object's bytes.
func (w *worker) download(ctx context.Context, l *lease, key string) ([]byte, error) {
	p, err := w.presign(presignBody(l, "get", key, -1, ""))
	if err != nil {
		return nil, err
	}
	res, err := w.send(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", p.Key, res.StatusCode)
	}
	return io.ReadAll(res.Body)
}

// upload presigns a PUT of `name` in the attempt's folder and returns the object's absolute key.
func (w *worker) upload(ctx context.Context, l *lease, name string, data []byte, contentType string) (string, error) {
	p, err := w.presign(presignBody(l, "put", name, len(data), contentType))
	if err != nil {
		return "", err
	}
	res, err := w.send(ctx, p, data)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 300))
		return "", fmt.Errorf("PUT %s: HTTP %d %s", p.Key, res.StatusCode, msg)
	}
	return p.Key, nil
}

// send performs exactly the method, URL and headers the broker signed.
func (w *worker) send(ctx context.Context, p presignReply, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	return w.http.Do(req)
}
