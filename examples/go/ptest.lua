-- A Go module's tests through the go preset: the packages that have tests (`go list ./...`),
-- split into a few `go test -json` processes balanced by history; ptest reads each test's
-- outcome from go's JSON events.
--
--   ptest list                    the packages, by part
--   ptest run --junit junit.xml   every test (subtests that fail too) under the batch "go"
--   ptest run --retries 1         a retry reruns only the packages that failed
require("ptest.presets.go").batch { name = "go", packages = "./..." }
