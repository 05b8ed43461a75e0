package server

// scriptTestRoutes are the routes of the script test endpoint (reference §10).
func (s *Server) scriptTestRoutes() []route { return nil }

// scriptTestSchemas are the OpenAPI schemas of the script test endpoint.
func scriptTestSchemas() schema { return schema{} }
