package server

import (
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// schema is a JSON Schema (2020-12, as OpenAPI 3.1 uses it) or any other OpenAPI object.
type schema = map[string]any

func ref(name string) schema { return schema{"$ref": "#/components/schemas/" + name} }

func str() schema               { return schema{"type": "string"} }
func strDesc(d string) schema   { return schema{"type": "string", "description": d} }
func integer() schema           { return schema{"type": "integer"} }
func intMin(min int) schema     { return schema{"type": "integer", "minimum": min} }
func boolean() schema           { return schema{"type": "boolean"} }
func dateTime() schema          { return schema{"type": "string", "format": "date-time"} }
func arrayOf(items any) schema  { return schema{"type": "array", "items": items} }
func mapOf(values any) schema   { return schema{"type": "object", "additionalProperties": values} }
func anyObject(d string) schema { return schema{"type": "object", "description": d} }
func orNull(s schema) schema    { return schema{"anyOf": []any{s, schema{"type": "null"}}} }

// object is a closed object schema: the listed properties, the required ones, nothing else.
func object(required []string, props schema) schema {
	o := schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func describe(s schema, d string) schema {
	out := schema{}
	for k, v := range s {
		out[k] = v
	}
	out["description"] = d
	return out
}

// componentSchemas are the document's named schemas. Response schemas are closed
// (additionalProperties false) so that the contract test notices any field the API adds.
func componentSchemas() schema {
	statusEnum := schema{"type": "string", "enum": []string{"healthy", "degraded", "unhealthy"}}
	fieldError := object([]string{"field", "message"}, schema{"field": strDesc("The invalid field or parameter (dotted path, e.g. config.port or collectors[0].config.url)."), "message": str()})
	thresholdLevel := func(key string) schema { return object([]string{key}, schema{key: intMin(1)}) }
	collectorEntry := object([]string{"collectorId"}, schema{
		"id":          strDesc("Instance id; results are stored under it (generated when absent)."),
		"collectorId": strDesc("Collector id, short (request) or qualified (healthcheck-http.request)."),
		"config":      anyObject("The collector's config (its JSON Schema is in GET /strategies)."),
		"assertions":  arrayOf(ref("Assertion")),
	})
	page := func(itemsKey, item string, total bool) schema {
		props := schema{itemsKey: arrayOf(ref(item)), "limit": integer(), "offset": integer()}
		req := []string{itemsKey, "limit", "offset"}
		if total {
			props["total"] = describe(integer(), "Rows matching the request.")
			req = append(req, "total")
		}
		return object(req, props)
	}
	healthState := object([]string{"status", "inStatusSince", "inStatusForMs", "inMaintenance", "transitionsInWindow", "transitionWindowMinutes", "evaluatedAt", "noDataYet"}, schema{
		"status":                  ref("Status"),
		"inStatusSince":           orNull(dateTime()),
		"inStatusForMs":           intMin(0),
		"latencyMs":               integer(),
		"lastRunAt":               dateTime(),
		"avgLatencyMs":            integer(),
		"p95LatencyMs":            integer(),
		"successRate":             schema{"type": "number", "minimum": 0, "maximum": 1},
		"inMaintenance":           boolean(),
		"transitionsInWindow":     intMin(0),
		"transitionWindowMinutes": intMin(1),
		"evaluatedAt":             dateTime(),
		"noDataYet":               describe(boolean(), "No run is recorded yet (of the check when configurationId is given): the status is the default, not a measurement."),
	})
	systemHealth := object([]string{"status", "evaluatedAt", "checkStatuses", "healthyChecks", "totalChecks", "noDataYet"}, schema{
		"status":        ref("Status"),
		"evaluatedAt":   dateTime(),
		"checkStatuses": arrayOf(ref("CheckStatus")),
		"healthyChecks": intMin(0),
		"totalChecks":   intMin(0),
		"noDataYet":     describe(boolean(), "No enabled check has a run yet (also true without enabled checks): the status is the default, not a measurement."),
	})
	unknownIDs := describe(arrayOf(str()), "Requested ids that are no system (absent from the map; GET /systems/{systemId}/health answers 404 for them).")
	systemIDs := schema{"type": "array", "items": schema{"type": "string", "minLength": 1, "maxLength": 128}, "maxItems": maxBulkSystems}
	out := schema{
		"Status":     statusEnum,
		"FieldError": fieldError,
		"Problem": describe(object([]string{"type", "title", "status"}, schema{
			"type":   strDesc("A URN naming the kind of problem, e.g. urn:checkflow:problem:validation."),
			"title":  str(),
			"status": integer(),
			"detail": str(),
			"errors": arrayOf(ref("FieldError")),
		}), "RFC 9457 problem details."),
		"Liveness":  object([]string{"status"}, schema{"status": str()}),
		"Readiness": object([]string{"status", "checks"}, schema{"status": str(), "checks": mapOf(str()), "problems": arrayOf(str())}),
		"Version":   object([]string{"version"}, schema{"version": str()}),
		"OpenAPIDocument": schema{"type": "object", "required": []string{"openapi", "info", "paths"},
			"description": "An OpenAPI 3.1 document."},

		"System": object([]string{"id", "name", "description", "labels", "createdAt", "updatedAt"}, schema{
			"id": str(), "name": str(), "description": str(), "labels": mapOf(str()), "createdAt": dateTime(), "updatedAt": dateTime(),
		}),
		"SystemCreate": object([]string{"id", "name"}, schema{
			"id":          schema{"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
			"name":        schema{"type": "string", "minLength": 1, "maxLength": 200},
			"description": schema{"type": "string", "maxLength": 4000},
			"labels":      mapOf(str()),
		}),
		"SystemPatch": object(nil, schema{
			"name":        schema{"type": "string", "minLength": 1, "maxLength": 200},
			"description": schema{"type": "string", "maxLength": 4000},
			"labels":      mapOf(str()),
		}),
		"SystemList": page("systems", "System", true),

		"Strategy": object([]string{"id", "aliases", "displayName", "description", "configSchema", "collectors"}, schema{
			"id": str(), "aliases": arrayOf(str()), "displayName": str(), "description": str(),
			"configSchema": anyObject("JSON Schema of the strategy config; x-secret marks credentials."),
			"collectors":   arrayOf(ref("Collector")),
		}),
		"Collector": object([]string{"id", "aliases", "strategyId", "displayName", "description", "allowMultiple", "configSchema", "resultSchema", "aggregates"}, schema{
			"id": str(), "aliases": arrayOf(str()), "strategyId": str(), "displayName": str(), "description": str(), "allowMultiple": boolean(),
			"configSchema": anyObject("JSON Schema of the collector config."),
			"resultSchema": anyObject("JSON Schema of the collector result (assertable fields)."),
			"aggregates":   arrayOf(object([]string{"name", "type", "source"}, schema{"name": str(), "type": str(), "source": str()})),
		}),
		"StrategyList":  object([]string{"strategies"}, schema{"strategies": arrayOf(ref("Strategy"))}),
		"CollectorList": object([]string{"collectors"}, schema{"collectors": arrayOf(ref("Collector"))}),

		"Assertion": object([]string{"field", "operator"}, schema{
			"field": str(), "jsonPath": str(), "operator": str(), "value": schema{"description": "Expected value (any JSON)."},
		}),
		"CollectorEntry": collectorEntry,
		"Check": object([]string{"id", "name", "strategyId", "config", "collectors", "intervalSeconds", "paused", "createdAt", "updatedAt"}, schema{
			"id": schema{"type": "string", "format": "uuid"}, "name": str(), "strategyId": str(),
			"config":          anyObject(`The strategy config; x-secret fields read "****".`),
			"collectors":      arrayOf(ref("CollectorEntry")),
			"intervalSeconds": intMin(1), "paused": boolean(), "createdAt": dateTime(), "updatedAt": dateTime(),
			"pingToken": strDesc("Heartbeat checks: the credential of POST|GET /api/v1/ping/{pingToken} (keep it secret: whoever has it can report the job's runs)."),
			"pingUrl":   strDesc("Heartbeat checks: the ping URL as reached through this API."),
		}),
		"CheckCreate": object([]string{"name", "strategyId", "intervalSeconds"}, schema{
			"name":            schema{"type": "string", "minLength": 1, "maxLength": 200},
			"strategyId":      strDesc("Strategy id, short (http) or qualified (healthcheck-http.http)."),
			"config":          anyObject("The strategy config (default {})."),
			"collectors":      orNull(arrayOf(ref("CollectorEntry"))),
			"intervalSeconds": schema{"type": "integer", "minimum": 1, "maximum": 31536000},
			"paused":          boolean(),
		}),
		"CheckPatch": object(nil, schema{
			"name":            schema{"type": "string", "minLength": 1, "maxLength": 200},
			"strategyId":      str(),
			"config":          anyObject(`The whole strategy config; "****" keeps a stored secret.`),
			"collectors":      describe(orNull(arrayOf(ref("CollectorEntry"))), "The whole collectors array; null removes every collector."),
			"intervalSeconds": schema{"type": "integer", "minimum": 1, "maximum": 31536000},
		}),
		"CheckList": page("configurations", "Check", true),

		"Thresholds": object([]string{"mode"}, schema{
			"mode":       schema{"type": "string", "enum": []string{"consecutive", "window"}},
			"windowSize": schema{"type": "integer", "minimum": 3, "maximum": 100},
			"healthy":    thresholdLevel("minSuccessCount"),
			"degraded":   thresholdLevel("minFailureCount"),
			"unhealthy":  thresholdLevel("minFailureCount"),
		}),
		"NotificationPolicy": object([]string{"suppressDeEscalations"}, schema{"suppressDeEscalations": boolean()}),
		"RetentionConfig": object([]string{"rawRetentionDays", "hourlyRetentionDays", "dailyRetentionDays"}, schema{
			"rawRetentionDays":    schema{"type": "integer", "minimum": 1, "maximum": 30},
			"hourlyRetentionDays": schema{"type": "integer", "minimum": 7, "maximum": 90},
			"dailyRetentionDays":  schema{"type": "integer", "minimum": 30, "maximum": 1095},
		}),
		"RetentionConfigInput": describe(object(nil, schema{
			"rawRetentionDays":    schema{"type": "integer", "minimum": 1, "maximum": 30, "default": 7},
			"hourlyRetentionDays": schema{"type": "integer", "minimum": 7, "maximum": 90, "default": 30},
			"dailyRetentionDays":  schema{"type": "integer", "minimum": 30, "maximum": 1095, "default": 365},
		}), "Absent fields take their defaults."),
		"FlapThresholds": object([]string{"startPercent", "stopPercent"}, schema{
			"startPercent": schema{"type": "number", "exclusiveMinimum": 0, "maximum": 100},
			"stopPercent":  schema{"type": "number", "exclusiveMinimum": 0, "maximum": 100},
		}),
		"FlapDetectionEnvelope": object([]string{"flapDetection"}, schema{"flapDetection": orNull(ref("FlapThresholds"))}),
		"FlapDetectionPut":      object([]string{"flapDetection"}, schema{"flapDetection": describe(orNull(ref("FlapThresholds")), "null resets to the defaults.")}),
		"RetentionEnvelope":     object([]string{"retentionConfig"}, schema{"retentionConfig": orNull(ref("RetentionConfig"))}),
		"RetentionPut":          object([]string{"retentionConfig"}, schema{"retentionConfig": describe(orNull(ref("RetentionConfigInput")), "null resets to the defaults.")}),
		"Assignment": object([]string{"systemId", "configurationId", "configurationName", "enabled", "locations", "createdAt", "updatedAt"}, schema{
			"systemId": str(), "configurationId": schema{"type": "string", "format": "uuid"}, "configurationName": str(), "enabled": boolean(),
			"stateThresholds":    describe(ref("Thresholds"), "Absent: the defaults (consecutive 1/2/5)."),
			"retentionConfig":    describe(ref("RetentionConfig"), "Absent: the defaults (7/30/365 days)."),
			"locations":          describe(arrayOf(str()), "Where the check is probed; empty: the default probes."),
			"quorum":             describe(quorumSchema(), "With 2 or more locations, each run probes every location and fails when at least this many locations fail. Absent: a majority (locations/2 + 1)."),
			"notificationPolicy": describe(ref("NotificationPolicy"), "Absent: the platform defaults."),
			"createdAt":          dateTime(), "updatedAt": dateTime(),
			"warnings": describe(arrayOf(ref("FieldError")), "Threshold levels that can never be reached (PUT only)."),
		}),
		"AssignmentPut": object(nil, schema{
			"enabled":            describe(boolean(), "Default true."),
			"stateThresholds":    describe(orNull(ref("Thresholds")), "null resets to the defaults."),
			"notificationPolicy": describe(orNull(ref("NotificationPolicy")), "null inherits the platform defaults."),
			"locations":          describe(orNull(schema{"type": "array", "maxItems": 32, "items": schema{"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}}), "null or [] probes from the default task queue."),
			"quorum":             describe(orNull(quorumSchema()), "How many locations must fail for a run to fail: 1 to the number of locations, on an assignment with at least 2 locations (these or the stored ones; else 422 on quorum). null resets to a majority. Absent: unchanged. A location without probe workers is reported unavailable in the run's result.locations and does not count as failing."),
		}),
		"AssignmentList": object([]string{"associations"}, schema{"associations": arrayOf(ref("Assignment"))}),

		"RunRequest": object(nil, schema{"force": describe(boolean(), "Run a paused check too.")}),
		"CheckResult": object([]string{"id", "configurationId", "status", "executedAt"}, schema{
			"id":              strDesc(`The run id, "<systemId>:run:<Idempotency-Key>".`),
			"configurationId": str(), "status": ref("Status"), "latencyMs": integer(), "message": str(),
			"result":     schema{"description": "The probe result (status, latencyMs, message, metadata)."},
			"executedAt": dateTime(), "sourceId": str(), "sourceLabel": str(),
		}),
		"View": object([]string{"status", "healthyChecks", "totalChecks"}, schema{"status": ref("Status"), "healthyChecks": intMin(0), "totalChecks": intMin(0)}),
		"OutboxEvent": object([]string{"type", "payload"}, schema{
			"type": str(), "discriminator": str(), "payload": anyObject("The event payload."),
		}),
		"RunResult": object([]string{"run", "view", "events", "duplicate"}, schema{
			"run":       ref("CheckResult"),
			"view":      describe(orNull(ref("View")), "The system's view after the run."),
			"events":    arrayOf(ref("OutboxEvent")),
			"duplicate": describe(boolean(), "The run had been processed before, or was in flight on this server, when this request came (a repeated Idempotency-Key): the same run and no events; this request caused nothing new."),
		}),

		"Run": object([]string{"id", "configurationId", "systemId", "status", "timestamp"}, schema{
			"id": str(), "configurationId": str(), "systemId": str(), "status": ref("Status"), "timestamp": dateTime(),
			"latencyMs": integer(), "sourceId": str(), "sourceLabel": str(),
			"result": schema{"description": "The run result ({} when none); detailed reads only."},
		}),
		"RunList": page("runs", "Run", true),
		"HistoryPoint": object([]string{"bucketStart", "bucketEnd", "bucketIntervalSeconds", "runCount", "healthyCount", "degradedCount", "unhealthyCount", "successRate"}, schema{
			"bucketStart": dateTime(), "bucketEnd": dateTime(), "bucketIntervalSeconds": integer(),
			"runCount": intMin(0), "healthyCount": intMin(0), "degradedCount": intMin(0), "unhealthyCount": intMin(0),
			"successRate":  schema{"type": "number", "minimum": 0, "maximum": 1},
			"avgLatencyMs": integer(), "minLatencyMs": integer(), "maxLatencyMs": integer(), "p95LatencyMs": integer(),
			"aggregatedResult": anyObject("Collector aggregates (detailed=true only)."),
		}),
		"AggregatedHistory": object([]string{"buckets", "bucketIntervalSeconds"}, schema{"buckets": arrayOf(ref("HistoryPoint")), "bucketIntervalSeconds": integer()}),

		"CheckStatus": object([]string{"configurationId", "configurationName", "status", "runsConsidered", "paused", "noDataYet"}, schema{
			"configurationId": str(), "configurationName": str(), "status": ref("Status"), "runsConsidered": intMin(0), "lastRunAt": dateTime(),
			"paused":    describe(boolean(), "The check is paused: not probed, and healthy in the system's aggregate until resumed."),
			"noDataYet": describe(boolean(), "The check has no run yet (runsConsidered 0): its status is the default, not a measurement."),
		}),
		"SystemHealth":     systemHealth,
		"BulkSystems":      object([]string{"systemIds"}, schema{"systemIds": systemIDs}),
		"BulkSystemHealth": object([]string{"statuses", "unknown"}, schema{"statuses": describe(mapOf(ref("SystemHealth")), "By system id, the requested systems that exist."), "unknown": unknownIDs}),
		"RecentRun":        object([]string{"id", "status", "timestamp"}, schema{"id": str(), "status": ref("Status"), "timestamp": dateTime()}),
		"OverviewCheck": object([]string{"configurationId", "configurationName", "strategyId", "intervalSeconds", "enabled", "paused", "status", "recentRuns"}, schema{
			"configurationId": str(), "configurationName": str(), "strategyId": str(), "intervalSeconds": integer(),
			"enabled": boolean(), "paused": boolean(),
			"status":          describe(ref("Status"), "Evaluated on the newest 25 runs."),
			"stateThresholds": ref("Thresholds"),
			"recentRuns":      describe(arrayOf(ref("RecentRun")), "The newest 25 runs, oldest first."),
		}),
		"HealthOverview": object([]string{"systemId", "checks"}, schema{"systemId": str(), "checks": arrayOf(ref("OverviewCheck"))}),
		"HealthState":    healthState,
		"BulkHealthStateRequest": object([]string{"systemIds"}, schema{
			"systemIds": systemIDs, "transitionWindowMinutes": schema{"type": "integer", "minimum": 1, "maximum": 525600, "default": 60},
		}),
		"BulkHealthState": object([]string{"states", "unknown"}, schema{"states": describe(mapOf(ref("HealthState")), "By system id, the requested systems that exist."), "unknown": unknownIDs}),
		"Transition": object([]string{"id", "systemId", "fromStatus", "toStatus", "transitionedAt"}, schema{
			"id": str(), "systemId": str(),
			"configurationId": describe(str(), "The check whose run caused it; absent for a configuration change."),
			"fromStatus":      orNull(ref("Status")), "toStatus": ref("Status"), "transitionedAt": dateTime(), "seq": integer(),
		}),
		"TransitionList": page("transitions", "Transition", false),
		"Event": object([]string{"id", "systemId", "seq", "type", "payload", "idempotencyKey", "createdAt"}, schema{
			"id": integer(), "systemId": str(), "seq": integer(), "type": str(),
			"payload":        anyObject("The event payload."),
			"idempotencyKey": strDesc(`"<systemId>:<seq>:<type>[:<discriminator>]": receivers dedupe on it.`),
			"createdAt":      dateTime(), "deliveredAt": dateTime(),
		}),
		"EventList": object([]string{"events"}, schema{"events": arrayOf(ref("Event")), "nextCursor": describe(integer(), "Pass as cursor for the next page; absent on the last page.")}),
	}
	maps.Copy(out, notificationSchemas())
	maps.Copy(out, automationSchemas())
	maps.Copy(out, statusPageSchemas())
	maps.Copy(out, htmlPageSchemas())
	maps.Copy(out, gitOpsSchemas())
	maps.Copy(out, secretStoreSchemas())
	maps.Copy(out, scriptTestSchemas())
	maps.Copy(out, pingSchemas())
	return out
}

const apiDescription = `checkflow runs the health checks of the systems a team operates and rolls them up to one health per system.

**Authentication.** Send ` + "`Authorization: Bearer <token>`" + `. Tokens are created with ` + "`checkflow token create --scopes …`" + ` (and ` + "`checkflow dev`" + ` prints an admin token). Scopes:

- ` + "`status:read`" + ` — health, history, transitions; public (no token needed) unless the server runs with ` + "`--public-status=false`" + `; every valid token has it;
- ` + "`config:read`" + ` — checks, strategies, assignments, retention, settings, notification channels, maintenance windows, the delivery log, automations and their runs;
- ` + "`config:manage`" + ` — every change and run-now (implies config:read);
- ` + "`details:read`" + ` — run results, detailed aggregated history and the event outbox;
- ` + "`admin`" + ` — everything.

A missing or invalid token where one is needed is a 401; a token without the scope is a 403. The scope of each operation is in its ` + "`x-required-scope`" + `.

**Errors** are RFC 9457 ` + "`application/problem+json`" + ` documents; validation errors (422) list every invalid field in ` + "`errors`" + `. Entities managed by GitOps answer 403 "… is managed by GitOps and cannot be modified manually.". Unknown body fields and query parameters are rejected (422, naming them).

**Writes** are committed to PostgreSQL first, then the affected systems' health entities are signalled; a 503 ` + "`urn:checkflow:problem:entity-unreachable`" + ` means the change was saved but an entity could not be told (repeat the request).

**Outages.** When PostgreSQL cannot be reached or does not answer within 30 s, every operation that needs it answers 503 ` + "`urn:checkflow:problem:database-unavailable`" + `; when Temporal cannot be reached, writes answer 503 ` + "`entity-unreachable`" + ` after at most 30 s and run-now after at most 15 s. Every 503 carries a ` + "`Retry-After`" + ` header.`

// pathParams lists the {name} parameters of a path template.
func pathParams(p string) []string {
	var out []string
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(p[i:], '}')
		out = append(out, p[i+1:i+j])
		p = p[i+j+1:]
	}
}

func pathParamDoc(name string) string {
	switch name {
	case "systemId":
		return "System id."
	case "checkId":
		return "Check (configuration) id, a UUID."
	case "runId":
		return `Run id ("<systemId>:<key>"; percent-encode reserved characters).`
	case "strategyId":
		return "Strategy id, short or qualified."
	case "channelId":
		return "Notification channel id, a UUID."
	case "maintenanceId":
		return "Maintenance window id, a UUID."
	case "automationId":
		return "Automation id, a UUID."
	}
	return ""
}

func problemResponse(status int) schema {
	resp := schema{
		"description": http.StatusText(status),
		"content":     schema{problemContentType: schema{"schema": ref("Problem")}},
	}
	if status == http.StatusServiceUnavailable {
		resp["headers"] = schema{"Retry-After": schema{
			"description": "Seconds to wait before repeating the request.",
			"schema":      schema{"type": "integer", "minimum": 0},
		}}
	}
	return resp
}

// operation renders one route as an OpenAPI operation.
func (r route) operation() schema {
	d := r.doc
	op := schema{"operationId": d.id, "summary": d.summary, "tags": []string{d.tag}}
	desc := d.desc
	if r.auth {
		scope := r.scope
		if scope == "" {
			scope = "none"
		}
		op["x-required-scope"] = scope
		line := "Scope: `" + scope + "`"
		if r.scope == ScopeStatusRead {
			line += " (public unless the server requires tokens for status)"
			op["security"] = []any{schema{}, schema{"bearerAuth": []string{}}}
		} else {
			op["security"] = []any{schema{"bearerAuth": []string{}}}
		}
		if d.extraScope != "" {
			line += "; some parameters need `" + d.extraScope + "`"
		}
		desc = strings.TrimSpace(line + ".\n\n" + desc)
	} else {
		op["security"] = []any{}
	}
	if desc != "" {
		op["description"] = desc
	}
	var params []any
	for _, name := range pathParams(r.path) {
		params = append(params, schema{"name": name, "in": "path", "required": true, "description": pathParamDoc(name), "schema": str()})
	}
	for _, q := range d.query {
		p := schema{"name": q.name, "in": "query", "required": q.required, "description": q.desc, "schema": q.schema}
		if q.explode {
			p["style"], p["explode"] = "form", true
		}
		params = append(params, p)
	}
	for _, h := range d.headers {
		params = append(params, schema{"name": h.name, "in": "header", "required": h.required, "description": h.desc, "schema": h.schema})
	}
	if d.idempotencyKey {
		params = append(params, schema{"name": "Idempotency-Key", "in": "header", "required": false,
			"description": "Makes the request idempotent (1–200 visible ASCII characters).",
			"schema":      schema{"type": "string", "minLength": 1, "maxLength": maxIdempotencyKey}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if d.body != "" {
		op["requestBody"] = schema{"required": !d.bodyOptional, "content": schema{"application/json": schema{"schema": ref(d.body)}}}
	}
	responses := schema{}
	media := d.media
	if media == "" {
		media = "application/json"
	}
	success := func(status int) schema {
		resp := schema{"description": http.StatusText(status)}
		if d.response != "" && status != http.StatusNotModified {
			resp["content"] = schema{media: schema{"schema": ref(d.response)}}
		}
		if len(d.respHeaders) > 0 {
			resp["headers"] = d.respHeaders
		}
		return resp
	}
	responses[strconv.Itoa(d.status)] = success(d.status)
	codes := map[int]bool{http.StatusInternalServerError: true}
	if r.auth {
		codes[http.StatusBadRequest] = true
		codes[http.StatusUnauthorized] = true
		codes[http.StatusUnprocessableEntity] = true
		codes[http.StatusServiceUnavailable] = true // PostgreSQL unavailable (database-unavailable)
		if r.scope != "" {
			codes[http.StatusForbidden] = true
		}
	}
	if len(pathParams(r.path)) > 0 {
		codes[http.StatusNotFound] = true
	}
	if d.body != "" {
		codes[http.StatusRequestEntityTooLarge] = true
		codes[http.StatusUnsupportedMediaType] = true
	}
	if r.method == http.MethodPatch || r.method == http.MethodPut || r.method == http.MethodDelete ||
		strings.HasSuffix(r.path, "/pause") || strings.HasSuffix(r.path, "/resume") {
		codes[http.StatusForbidden] = true // GitOps lock
	}
	for _, c := range d.errors {
		if c < 400 {
			responses[strconv.Itoa(c)] = success(c)
			continue
		}
		codes[c] = true
	}
	sorted := make([]int, 0, len(codes))
	for c := range codes {
		sorted = append(sorted, c)
	}
	sort.Ints(sorted)
	for _, c := range sorted {
		responses[strconv.Itoa(c)] = problemResponse(c)
	}
	responses["default"] = schema{"description": "Any other error", "content": schema{problemContentType: schema{"schema": ref("Problem")}}}
	op["responses"] = responses
	return op
}

// openAPIDocument renders the route table as an OpenAPI 3.1 document.
func (s *Server) openAPIDocument() schema {
	paths := schema{}
	for _, r := range s.routes {
		item, _ := paths[r.path].(schema)
		if item == nil {
			item = schema{}
			paths[r.path] = item
		}
		item[strings.ToLower(r.method)] = r.operation()
	}
	version := s.cfg.Version
	if version == "" {
		version = "dev"
	}
	tags := []any{}
	for _, t := range []struct{ name, desc string }{
		{"Platform", "Liveness, readiness, version and this document."},
		{"Systems", "checkflow's catalog of systems."},
		{"Strategies", "Probe strategies and their collectors."},
		{"Checks", "Health check configurations, reusable across systems."},
		{"Assignments", "Checks assigned to systems, their thresholds, policies, retention, and run-now."},
		{"History", "Runs and aggregated history."},
		{"Health", "System health, health state, transitions and events."},
		{"Status page", "The HTML status page, uptime on the evaluated status, badges (SVG) and the live event stream (Server-Sent Events)."},
		{"Settings", "Platform settings."},
		{"Notifications", "Notification channels (webhook, Slack, Discord, Microsoft Teams, PagerDuty, email), test notifications and the delivery log."},
		{"Maintenance", "Maintenance windows: no notifications for their systems while they are active."},
		{"Automations", "When trigger events happen (matching a CEL filter, optionally N times within a window), run actions: notify, run a check, enable or disable an assignment, call a webhook."},
	} {
		tags = append(tags, schema{"name": t.name, "description": t.desc})
	}
	return schema{
		"openapi": "3.1.0",
		"info": schema{
			"title":       "checkflow API",
			"version":     version,
			"description": apiDescription,
			"license":     schema{"name": "Proprietary"},
		},
		"tags":  tags,
		"paths": paths,
		"components": schema{
			"schemas": componentSchemas(),
			"securitySchemes": schema{
				"bearerAuth": schema{"type": "http", "scheme": "bearer", "description": "An API token (cf_…)."},
			},
		},
	}
}

// quorumSchema is an assignment's quorum: 1 to the number of locations (at most 32).
func quorumSchema() schema { return schema{"type": "integer", "minimum": 1, "maximum": 32} }
