package aws

import "errors"

// ErrTemplate means the template could not be read or parsed.
var ErrTemplate = errors.New("SAM template")

// Finding is one way the template fails the app's needs.
type Finding struct {
	// Check names the check that found it (functions, routes, queues,
	// settings, permissions, secrets, platform).
	Check string
	// Resource is the logical ID concerned, if any.
	Resource string
	// Msg says what is wrong.
	Msg string
}

func (f *Finding) Error() string {
	if f.Resource == "" {
		return f.Check + ": " + f.Msg
	}
	return f.Check + ": " + f.Resource + ": " + f.Msg
}
