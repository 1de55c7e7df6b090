package api

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rightsizer/rightsizer/recommender"
)

// This file is the only place where domain errors become gRPC codes (the
// gateway turns codes into HTTP statuses with runtime.HTTPStatusFromCode).

// errResumeExpired reports a watch resume token older than the retention
// window, or from another server process.
var errResumeExpired = errors.New("resume token expired")

// errShuttingDown ends streams when the server stops.
var errShuttingDown = errors.New("server is shutting down")

// errInvalidToken reports a malformed resume or page token.
var errInvalidToken = errors.New("invalid token")

// badRequest collects every problem with a request, so that a caller
// fixes them in one round trip.
type badRequest struct {
	violations []*errdetails.BadRequest_FieldViolation
}

func (b *badRequest) add(field, why string) {
	b.violations = append(b.violations, &errdetails.BadRequest_FieldViolation{Field: field, Description: why})
}

// err returns an InvalidArgument status listing every violation in its
// message and in a BadRequest detail, or nil.
func (b *badRequest) err() error {
	if len(b.violations) == 0 {
		return nil
	}
	msgs := make([]string, len(b.violations))
	for i, v := range b.violations {
		msgs[i] = v.GetField() + ": " + v.GetDescription()
	}
	st := status.New(codes.InvalidArgument, "invalid request: "+strings.Join(msgs, "; "))
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: b.violations}); err == nil {
		st = d
	}
	return st.Err()
}

// toStatus maps an error from the engine or this package to a status
// error. Status errors pass through.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, recommender.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, recommender.ErrInvalidKey), errors.Is(err, recommender.ErrInvalidSample), errors.Is(err, errInvalidToken):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errResumeExpired):
		return status.Error(codes.OutOfRange, err.Error()+": list again and watch from the list's resume_token")
	case errors.Is(err, errShuttingDown):
		return status.Error(codes.Unavailable, err.Error()+": reconnect with the last resume_token")
	case errors.Is(err, ErrRateLimited):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
