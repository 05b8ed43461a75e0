package server

// pingRoutes are the routes of heartbeat pings.
func (s *Server) pingRoutes() []route { return nil }

// pingSchemas are the OpenAPI schemas of heartbeat pings.
func pingSchemas() schema { return schema{} }
