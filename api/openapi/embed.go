// Package openapi holds the OpenAPI (Swagger 2.0) document of rightsizer's
// REST API, generated from proto/rightsizer/v1 by `make proto`. The server
// serves it at /openapi.yaml.
package openapi

import _ "embed"

// Spec is rightsizer.swagger.yaml.
//
//go:embed rightsizer.swagger.yaml
var Spec []byte
