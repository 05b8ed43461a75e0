package server

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/checkflow/checkflow/internal/entityclient"
)

// route is one endpoint: how it is served (method, path, scope, handler) and how it is
// documented. The router and the OpenAPI document are both built from the route table, so
// they cannot disagree on what exists or which scope it needs.
type route struct {
	method string
	// path is the OpenAPI path template, e.g. /api/v1/systems/{systemId}.
	path string
	// auth makes the route authenticate (a malformed or unknown token is a 401).
	auth bool
	// scope is the scope the caller needs ("" with auth: any caller).
	scope   string
	handler echo.HandlerFunc
	doc     opDoc
	// ownDeadline: the handler bounds its work itself (run-now) instead of the request
	// timeout.
	ownDeadline bool
}

// opDoc documents an operation.
type opDoc struct {
	id      string
	tag     string
	summary string
	desc    string
	// query parameters.
	query []param
	// idempotencyKey documents the Idempotency-Key request header.
	idempotencyKey bool
	// body names the request body schema (components.schemas); "" = no body.
	body         string
	bodyOptional bool
	// status is the success status; response names its schema ("" = no content).
	status   int
	response string
	// errors lists the error statuses besides the ones every operation of its kind has.
	errors []int
	// extraScope documents a scope some parameter values need (detailed=true).
	extraScope string
	// media is the success response's media type ("" = application/json); response then
	// names a schema of that media type (e.g. a string).
	media string
	// respHeaders documents headers of the success responses (OpenAPI header objects by name).
	respHeaders schema
	// headers documents request headers besides Authorization and Idempotency-Key.
	headers []param
}

// param is a query parameter.
type param struct {
	name     string
	desc     string
	schema   schema
	required bool
	// explode documents a repeatable parameter (status=a&status=b).
	explode bool
}

const v1 = "/api/v1"

// Reusable query parameters.

func limitParam(def int) param {
	return param{name: "limit", desc: "Page size.", schema: schema{"type": "integer", "minimum": 1, "maximum": 500, "default": def}}
}

func offsetParam() param {
	return param{name: "offset", desc: "Rows to skip.", schema: schema{"type": "integer", "minimum": 0, "default": 0}}
}

func dateParam(name, desc string, required bool) param {
	return param{name: name, desc: desc + " (RFC 3339).", schema: schema{"type": "string", "format": "date-time"}, required: required}
}

func sourceParam() param {
	return param{name: "sourceFilter", desc: `"local" for the default probes, or a location/source id.`, schema: schema{"type": "string"}}
}

func runFilterParams(defLimit int) []param {
	return []param{
		{name: "systemId", desc: "Only runs of this system.", schema: schema{"type": "string"}},
		{name: "checkId", desc: "Only runs of this check (configuration id).", schema: schema{"type": "string", "format": "uuid"}},
		dateParam("startDate", "Oldest run timestamp included", false),
		dateParam("endDate", "Newest run timestamp included", false),
		sourceParam(),
		{name: "status", desc: "Only runs with these statuses (repeat the parameter or separate with commas).", schema: schema{"type": "array", "items": ref("Status")}, explode: true},
		limitParam(10), offsetParam(),
		{name: "sortOrder", desc: "By timestamp.", schema: schema{"type": "string", "enum": []string{"asc", "desc"}, "default": "desc"}},
	}
}

// routeTable lists every endpoint.
func (s *Server) routeTable() []route {
	const (
		get, post, put, patch, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
		status                     = ScopeStatusRead
		cfgRead                    = ScopeConfigRead
		cfgManage                  = ScopeConfigManage
		details                    = ScopeDetailsRead
	)
	routes := []route{
		// Platform.
		{method: get, path: "/healthz", handler: s.healthz, doc: opDoc{id: "healthz", tag: "Platform", summary: "Liveness", status: 200, response: "Liveness"}},
		{method: get, path: "/readyz", handler: s.readyz, doc: opDoc{id: "readyz", tag: "Platform", summary: "Readiness: PostgreSQL and Temporal answer", status: 200, response: "Readiness", errors: []int{503}}},
		{method: get, path: v1 + "/version", handler: s.version, doc: opDoc{id: "getVersion", tag: "Platform", summary: "Server version", status: 200, response: "Version"}},
		{method: get, path: v1 + "/openapi.json", handler: s.openAPI, doc: opDoc{id: "getOpenAPI", tag: "Platform", summary: "This OpenAPI 3.1 document", status: 200, response: "OpenAPIDocument"}},

		// Systems (checkflow's catalog).
		{method: get, path: v1 + "/systems", auth: true, scope: status, handler: s.listSystems, doc: opDoc{id: "listSystems", tag: "Systems", summary: "List systems",
			query: []param{limitParam(100), offsetParam()}, status: 200, response: "SystemList"}},
		{method: post, path: v1 + "/systems", auth: true, scope: cfgManage, handler: s.createSystem, doc: opDoc{id: "createSystem", tag: "Systems", summary: "Create a system",
			body: "SystemCreate", status: 201, response: "System", errors: []int{409}}},
		{method: get, path: v1 + "/systems/{systemId}", auth: true, scope: status, handler: s.getSystem, doc: opDoc{id: "getSystem", tag: "Systems", summary: "Get a system",
			status: 200, response: "System"}},
		{method: patch, path: v1 + "/systems/{systemId}", auth: true, scope: cfgManage, handler: s.updateSystem, doc: opDoc{id: "updateSystem", tag: "Systems", summary: "Update a system",
			desc: "403 when the system is managed by GitOps.", body: "SystemPatch", status: 200, response: "System", errors: []int{503}}},
		{method: del, path: v1 + "/systems/{systemId}", auth: true, scope: cfgManage, handler: s.deleteSystem, doc: opDoc{id: "deleteSystem", tag: "Systems", summary: "Delete a system with its assignments, runs, aggregates, state and events",
			desc: "403 when the system is managed by GitOps.", status: 204, errors: []int{503}}},

		// Strategies.
		{method: get, path: v1 + "/strategies", auth: true, scope: cfgRead, handler: s.listStrategies, doc: opDoc{id: "getStrategies", tag: "Strategies", summary: "List strategies with their config JSON Schemas",
			status: 200, response: "StrategyList"}},
		{method: get, path: v1 + "/strategies/{strategyId}/collectors", auth: true, scope: cfgRead, handler: s.listCollectors, doc: opDoc{id: "getCollectors", tag: "Strategies", summary: "List the collectors of a strategy",
			desc: "404 for an unknown strategy.", status: 200, response: "CollectorList"}},

		// Checks (health check configurations).
		{method: get, path: v1 + "/checks", auth: true, scope: cfgRead, handler: s.listChecks, doc: opDoc{id: "getConfigurations", tag: "Checks", summary: "List checks",
			query: []param{limitParam(100), offsetParam()}, status: 200, response: "CheckList"}},
		{method: post, path: v1 + "/checks", auth: true, scope: cfgManage, handler: s.createCheck, doc: opDoc{id: "createConfiguration", tag: "Checks", summary: "Create a check",
			desc: "The strategy config and collectors are validated against the strategy's schemas.", body: "CheckCreate", status: 201, response: "Check"}},
		{method: get, path: v1 + "/checks/{checkId}", auth: true, scope: cfgRead, handler: s.getCheck, doc: opDoc{id: "getConfiguration", tag: "Checks", summary: "Get a check",
			status: 200, response: "Check"}},
		{method: patch, path: v1 + "/checks/{checkId}", auth: true, scope: cfgManage, handler: s.updateCheck, doc: opDoc{id: "updateConfiguration", tag: "Checks", summary: "Update a check",
			desc: `Secret fields sent back as "****" keep their stored value. 403 when the check is managed by GitOps.`, body: "CheckPatch", status: 200, response: "Check", errors: []int{503}}},
		{method: del, path: v1 + "/checks/{checkId}", auth: true, scope: cfgManage, handler: s.deleteCheck, doc: opDoc{id: "deleteConfiguration", tag: "Checks", summary: "Delete a check from every system",
			desc: "403 when the check is managed by GitOps.", status: 204, errors: []int{503}}},
		{method: post, path: v1 + "/checks/{checkId}/pause", auth: true, scope: cfgManage, handler: s.pauseCheck, doc: opDoc{id: "pauseConfiguration", tag: "Checks", summary: "Pause a check for every system",
			status: 200, response: "Check", errors: []int{503}}},
		{method: post, path: v1 + "/checks/{checkId}/resume", auth: true, scope: cfgManage, handler: s.resumeCheck, doc: opDoc{id: "resumeConfiguration", tag: "Checks", summary: "Resume a check for every system",
			status: 200, response: "Check", errors: []int{503}}},

		// Assignments.
		{method: get, path: v1 + "/systems/{systemId}/flap-detection", auth: true, scope: cfgRead, handler: s.getFlapDetection, doc: opDoc{id: "getFlapDetection", tag: "Systems", summary: "Get a system's flap detection thresholds (null = defaults: start 50 %, stop 25 %)",
			status: 200, response: "FlapDetectionEnvelope"}},
		{method: put, path: v1 + "/systems/{systemId}/flap-detection", auth: true, scope: cfgManage, handler: s.putFlapDetection, doc: opDoc{id: "updateFlapDetection", tag: "Systems", summary: "Set or reset a system's flap detection thresholds",
			desc: "Percent state change over the last 21 evaluated statuses (Nagios' weighting): the system (or a check) starts flapping at ≥ startPercent and stops at ≤ stopPercent; 0 < stopPercent < startPercent ≤ 100. While the system flaps, its transition notifications are replaced by one flapping notification and one when it stops. 403 when the system is managed by GitOps.",
			body: "FlapDetectionPut", status: 200, response: "FlapDetectionEnvelope", errors: []int{503}}},
		{method: get, path: v1 + "/systems/{systemId}/checks", auth: true, scope: cfgRead, handler: s.listAssignments, doc: opDoc{id: "getSystemAssociations", tag: "Assignments", summary: "List the checks assigned to a system (enabled or not)",
			status: 200, response: "AssignmentList"}},
		{method: put, path: v1 + "/systems/{systemId}/checks/{checkId}", auth: true, scope: cfgManage, handler: s.putAssignment, doc: opDoc{id: "associateSystem", tag: "Assignments", summary: "Assign a check to a system (upsert)",
			desc: "Absent fields keep their value (defaults on create); null resets one. The notification policy is stored (the reference 1.5.0 RPC dropped it). 403 when the system is managed by GitOps.",
			body: "AssignmentPut", bodyOptional: true, status: 200, response: "Assignment", errors: []int{201, 503}}},
		{method: del, path: v1 + "/systems/{systemId}/checks/{checkId}", auth: true, scope: cfgManage, handler: s.deleteAssignment, doc: opDoc{id: "disassociateSystem", tag: "Assignments", summary: "Remove a check from a system",
			desc: "403 when the system is managed by GitOps.", status: 204, errors: []int{503}}},
		{method: get, path: v1 + "/systems/{systemId}/checks/{checkId}/retention", auth: true, scope: cfgRead, handler: s.getRetention, doc: opDoc{id: "getRetentionConfig", tag: "Assignments", summary: "Get an assignment's retention (null = defaults 7/30/365 days)",
			status: 200, response: "RetentionEnvelope"}},
		{method: put, path: v1 + "/systems/{systemId}/checks/{checkId}/retention", auth: true, scope: cfgManage, handler: s.putRetention, doc: opDoc{id: "updateRetentionConfig", tag: "Assignments", summary: "Set or reset an assignment's retention",
			desc: "raw 1–30, hourly 7–90, daily 30–1095 days; raw < hourly < daily. 403 when the system is managed by GitOps.", body: "RetentionPut", status: 200, response: "RetentionEnvelope"}},
		{method: post, path: v1 + "/systems/{systemId}/checks/{checkId}/run", auth: true, scope: cfgManage, handler: s.runCheck, ownDeadline: true, doc: opDoc{id: "runCheck", tag: "Assignments", summary: "Run a check now through the system's entity",
			desc: "The Idempotency-Key header is the run's update id: repeating a request with the same key returns the same run with `duplicate: true` (a key is generated when absent and echoed in the response header; a key already used for another check of the system is a 409). " +
				"404 when the check is not assigned; 409 when the assignment is disabled, the check paused (unless force), or a heartbeat check (it waits for pings). " +
				fmt.Sprintf("503 `urn:checkflow:problem:entity-unreachable` (with Retry-After) when Temporal does not accept the run within %v (Temporal unreachable, no worker) or the run does not complete within %v + the check's timeout + %v; repeat the request with the same key.",
					entityclient.DefaultAdmissionTimeout, entityclient.DefaultAdmissionTimeout, DefaultRunMargin),
			idempotencyKey: true, body: "RunRequest", bodyOptional: true, status: 200, response: "RunResult", errors: []int{409, 503}}},

		// History.
		{method: get, path: v1 + "/runs", auth: true, scope: status, handler: s.listRuns, doc: opDoc{id: "getHistory", tag: "History", summary: "Run history (without results)",
			query: runFilterParams(10), status: 200, response: "RunList"}},
		{method: get, path: v1 + "/runs/detailed", auth: true, scope: details, handler: s.listDetailedRuns, doc: opDoc{id: "getDetailedHistory", tag: "History", summary: "Run history with results",
			query: runFilterParams(10), status: 200, response: "RunList"}},
		{method: get, path: v1 + "/runs/{runId}", auth: true, scope: details, handler: s.getRun, doc: opDoc{id: "getRunById", tag: "History", summary: "One run with its result",
			status: 200, response: "Run"}},
		{method: get, path: v1 + "/systems/{systemId}/checks/{checkId}/aggregated-history", auth: true, scope: status, handler: s.aggregatedHistory, doc: opDoc{id: "getAggregatedHistory", tag: "History", summary: "Aggregated history of a check of a system",
			desc: "Raw runs, hourly and daily buckets merged (raw wins) and re-bucketed to targetPoints. detailed=true adds aggregatedResult and needs details:read.",
			query: []param{dateParam("startDate", "Range start", true), dateParam("endDate", "Range end", true),
				{name: "targetPoints", desc: "Number of buckets wanted.", schema: schema{"type": "integer", "minimum": 10, "maximum": 2000, "default": 500}},
				sourceParam(), {name: "detailed", desc: "Add aggregatedResult (needs details:read).", schema: schema{"type": "boolean", "default": false}}},
			status: 200, response: "AggregatedHistory", extraScope: details}},

		// Health.
		{method: get, path: v1 + "/systems/{systemId}/health", auth: true, scope: status, handler: s.getHealth, doc: opDoc{id: "getSystemHealthStatus", tag: "Health", summary: "A system's health and its checks' statuses",
			status: 200, response: "SystemHealth"}},
		{method: post, path: v1 + "/health:bulk", auth: true, scope: status, handler: s.bulkHealth, doc: opDoc{id: "getBulkSystemHealthStatus", tag: "Health", summary: "Health of many systems",
			body: "BulkSystems", status: 200, response: "BulkSystemHealth"}},
		{method: get, path: v1 + "/systems/{systemId}/health/overview", auth: true, scope: status, handler: s.getOverview, doc: opDoc{id: "getSystemHealthOverview", tag: "Health", summary: "Every assignment of a system with its newest 25 runs",
			status: 200, response: "HealthOverview"}},
		{method: get, path: v1 + "/systems/{systemId}/health-state", auth: true, scope: status, handler: s.getHealthState, doc: opDoc{id: "getHealthState", tag: "Health", summary: "Health state: status, since when, latency and success metrics, transitions",
			query: []param{{name: "configurationId", desc: "Scope status, newest run and metrics to one check.", schema: schema{"type": "string", "format": "uuid"}},
				{name: "transitionWindowMinutes", desc: "Window of transitionsInWindow.", schema: schema{"type": "integer", "minimum": 1, "maximum": 525600, "default": 60}}},
			status: 200, response: "HealthState"}},
		{method: post, path: v1 + "/health-state:bulk", auth: true, scope: status, handler: s.bulkHealthState, doc: opDoc{id: "getBulkHealthState", tag: "Health", summary: "Health state of many systems at one shared time",
			body: "BulkHealthStateRequest", status: 200, response: "BulkHealthState"}},
		{method: get, path: v1 + "/systems/{systemId}/transitions", auth: true, scope: status, handler: s.listTransitions, doc: opDoc{id: "listTransitions", tag: "Health", summary: "A system's status transitions, newest first",
			query:  []param{dateParam("since", "Oldest transition included", false), dateParam("until", "Newest transition included", false), limitParam(100), offsetParam()},
			status: 200, response: "TransitionList"}},
		{method: get, path: v1 + "/events", auth: true, scope: details, handler: s.listEvents, doc: opDoc{id: "listEvents", tag: "Health", summary: "The event outbox: trigger events and hooks, by id",
			query: []param{{name: "systemId", desc: "Only events of this system.", schema: schema{"type": "string"}},
				{name: "type", desc: "Only events of this type, e.g. healthcheck.system_degraded.", schema: schema{"type": "string"}},
				dateParam("since", "Oldest creation time included", false), dateParam("until", "Newest creation time included", false),
				{name: "cursor", desc: "nextCursor of the previous page.", schema: schema{"type": "integer", "minimum": 0}},
				limitParam(100),
				{name: "order", desc: "By id.", schema: schema{"type": "string", "enum": []string{"asc", "desc"}, "default": "asc"}}},
			status: 200, response: "EventList"}},

		// Settings.
		{method: get, path: v1 + "/settings/notification-defaults", auth: true, scope: cfgRead, handler: s.getNotificationDefaults, doc: opDoc{id: "getPlatformNotificationDefaults", tag: "Settings", summary: "Platform notification defaults",
			status: 200, response: "NotificationPolicy"}},
		{method: put, path: v1 + "/settings/notification-defaults", auth: true, scope: cfgManage, handler: s.putNotificationDefaults, doc: opDoc{id: "setPlatformNotificationDefaults", tag: "Settings", summary: "Set the platform notification defaults",
			body: "NotificationPolicy", status: 200, response: "NotificationPolicy", errors: []int{503}}},

		// Notifications.
		{method: get, path: v1 + "/channels", auth: true, scope: cfgRead, handler: s.listChannels, doc: opDoc{id: "listChannels", tag: "Notifications", summary: "List notification channels",
			desc:  `By creation time. x-secret config values read "****".`,
			query: []param{limitParam(100), offsetParam()}, status: 200, response: "ChannelList"}},
		{method: post, path: v1 + "/channels", auth: true, scope: cfgManage, handler: s.createChannel, doc: opDoc{id: "createChannel", tag: "Notifications", summary: "Create a notification channel",
			desc: "The config is validated by the channel type (schemas `ChannelConfig…`, field errors name `config.<key>`); its x-secret values are sealed with the server's secret key before they are stored " +
				"(a secret that is not a string, such as a webhook's headers, is sealed as its JSON text). Without a secret key, a config holding a secret is a 422. " +
				"`systems` defaults to `[\"*\"]` (every system), `events` to escalation, de-escalation and recovery; unknown systems and events are 422s naming `systems[i]` / `events[i]`.",
			body: "ChannelCreate", status: 201, response: "Channel"}},
		{method: get, path: v1 + "/channels/{channelId}", auth: true, scope: cfgRead, handler: s.getChannel, doc: opDoc{id: "getChannel", tag: "Notifications", summary: "Get a notification channel",
			desc: `x-secret config values read "****". failing is true from the delivery that reached the failure threshold until the next successful one.`, status: 200, response: "Channel"}},
		{method: patch, path: v1 + "/channels/{channelId}", auth: true, scope: cfgManage, handler: s.updateChannel, doc: opDoc{id: "updateChannel", tag: "Notifications", summary: "Update a notification channel",
			desc: `Absent fields keep their value; config replaces the whole config, and a secret sent back as "****" keeps its stored value. The type cannot change (422 on type). remindEvery null turns reminders off. A changed config clears the channel's failure count. 403 when the channel is managed by GitOps. ` + forceDoc,
			body: "ChannelPatch", status: 200, response: "Channel"}},
		{method: del, path: v1 + "/channels/{channelId}", auth: true, scope: cfgManage, handler: s.deleteChannel, doc: opDoc{id: "deleteChannel", tag: "Notifications", summary: "Delete a notification channel with its deliveries",
			desc: "403 when the channel is managed by GitOps. " + forceDoc, status: 204}},
		{method: post, path: v1 + "/channels/{channelId}/test", auth: true, scope: cfgManage, handler: s.testChannel, doc: opDoc{id: "testChannel", tag: "Notifications", summary: "Send a test notification through a channel",
			desc: fmt.Sprintf("Sends one message (event `test`, system `checkflow-test`) synchronously, at most %v, and records it as a delivery (systemId null). "+
				"A failed send is a 200 with `status: failed`, the error (secrets redacted) and whether a retry could succeed. The channel's failure state is not changed.", channelTestTimeout),
			status: 200, response: "ChannelTestResult"}},
		{method: get, path: v1 + "/deliveries", auth: true, scope: cfgRead, handler: s.listDeliveries, doc: opDoc{id: "listDeliveries", tag: "Notifications", summary: "The delivery log: one row per notification per channel, newest first",
			query: []param{
				{name: "channelId", desc: "Only deliveries to this channel.", schema: schema{"type": "string", "format": "uuid"}},
				{name: "systemId", desc: "Only deliveries about this system.", schema: schema{"type": "string"}},
				{name: "status", desc: "Only deliveries with this status.", schema: ref("DeliveryStatus")},
				{name: "cursor", desc: "nextCursor of the previous page.", schema: schema{"type": "string"}},
				limitParam(defaultDeliveryLimit)},
			status: 200, response: "DeliveryList"}},

		// Maintenance.
		{method: get, path: v1 + "/maintenances", auth: true, scope: cfgRead, handler: s.listMaintenances, doc: opDoc{id: "listMaintenances", tag: "Maintenance", summary: "List maintenance windows, latest start first",
			query: []param{
				{name: "systemId", desc: "Only windows covering this system.", schema: schema{"type": "string"}},
				{name: "state", desc: "Only windows in this state now (server clock).", schema: ref("MaintenanceState")},
				limitParam(100), offsetParam()},
			status: 200, response: "MaintenanceList"}},
		{method: post, path: v1 + "/maintenances", auth: true, scope: cfgManage, handler: s.createMaintenance, doc: opDoc{id: "createMaintenance", tag: "Maintenance", summary: "Schedule a maintenance window",
			desc: "While a window covers a system, its subscribers are not notified; when the window ends, they are told the status if it differs from what they were last told. " +
				"endsAt must be after startsAt and in the future; every system id must exist. The window's workflow is signalled after the write (503 entity-unreachable: saved, but not signalled).",
			body: "MaintenanceCreate", status: 201, response: "Maintenance", errors: []int{503}}},
		{method: get, path: v1 + "/maintenances/{maintenanceId}", auth: true, scope: cfgRead, handler: s.getMaintenance, doc: opDoc{id: "getMaintenance", tag: "Maintenance", summary: "Get a maintenance window",
			status: 200, response: "Maintenance"}},
		{method: patch, path: v1 + "/maintenances/{maintenanceId}", auth: true, scope: cfgManage, handler: s.updateMaintenance, doc: opDoc{id: "updateMaintenance", tag: "Maintenance", summary: "Change a maintenance window",
			desc: "Absent fields keep their value; the result is validated like a new window (endsAt after startsAt and in the future; system ids sent must exist). 403 when the window is managed by GitOps. " + forceDoc,
			body: "MaintenancePatch", status: 200, response: "Maintenance", errors: []int{503}}},
		{method: del, path: v1 + "/maintenances/{maintenanceId}", auth: true, scope: cfgManage, handler: s.deleteMaintenance, doc: opDoc{id: "deleteMaintenance", tag: "Maintenance", summary: "Delete a maintenance window",
			desc: "403 when the window is managed by GitOps. " + forceDoc, status: 204, errors: []int{503}}},

		// Automations.
		{method: get, path: v1 + "/automations", auth: true, scope: cfgRead, handler: s.listAutomations, doc: opDoc{id: "listAutomations", tag: "Automations", summary: "List automations",
			desc: `By creation time. Webhook secrets read "****".`,
			query: []param{
				{name: "event", desc: "Only automations triggered by this event.", schema: ref("AutomationEventType")},
				limitParam(100), offsetParam()},
			status: 200, response: "AutomationList"}},
		{method: post, path: v1 + "/automations", auth: true, scope: cfgManage, handler: s.createAutomation, doc: opDoc{id: "createAutomation", tag: "Automations", summary: "Create an automation",
			desc: "The body is decoded strictly (unknown fields and wrong types are 422s naming the field) and the filter and partitionBy are compiled and type-checked against the trigger event's payload schema: " +
				"a CEL syntax or type error, or a reference to a field the payload does not have, is a 422 on `trigger.filter` (or `trigger.window.partitionBy`) whose message starts with the `line:column` of the problem. " +
				"The notification channel, system and check an action names must exist (422 on `actions[i].config.<field>`). A webhook action's secret is sealed with the server's secret key before it is stored (without a key, a secret is a 422) and reads \"****\". " +
				"The automation's workflow is signalled after the write (503 entity-unreachable: saved, but not signalled).",
			body: "AutomationCreate", status: 201, response: "Automation", errors: []int{503}}},
		{method: get, path: v1 + "/automations/{automationId}", auth: true, scope: cfgRead, handler: s.getAutomation, doc: opDoc{id: "getAutomation", tag: "Automations", summary: "Get an automation",
			desc: `Webhook secrets read "****".`, status: 200, response: "Automation"}},
		{method: patch, path: v1 + "/automations/{automationId}", auth: true, scope: cfgManage, handler: s.updateAutomation, doc: opDoc{id: "updateAutomation", tag: "Automations", summary: "Change an automation",
			desc: "Every field sent replaces the stored one whole (trigger, actions); absent fields keep their value; null is a 422. The result is parsed, compiled and validated like a new automation, and its revision is incremented. " +
				"In a sent actions array, a webhook action whose secret is absent or \"****\" keeps the secret of the stored action at the same position (if that is a webhook action with a secret; \"****\" with nothing stored is a 422); `\"secret\": \"\"` removes it. " +
				"The channels, systems and checks of the actions are looked up when actions is sent. 403 when the automation is managed by GitOps. The automation's workflow is signalled after the write.",
			body: "AutomationPatch", status: 200, response: "Automation", errors: []int{503}}},
		{method: del, path: v1 + "/automations/{automationId}", auth: true, scope: cfgManage, handler: s.deleteAutomation, doc: opDoc{id: "deleteAutomation", tag: "Automations", summary: "Delete an automation with its occurrences and runs",
			desc: "403 when the automation is managed by GitOps. The automation's workflow is signalled after the delete.", status: 204, errors: []int{503}}},
		{method: post, path: v1 + "/automations/{automationId}:test", auth: true, scope: cfgManage, handler: s.testAutomation, doc: opDoc{id: "testAutomation", tag: "Automations", summary: "Evaluate an automation against an event without acting",
			desc: "Send either `event`, a sample `{type, payload}` (type defaults to the trigger's event; the payload is checked against the event's schema, 422 naming `event.payload.<field>`; it happens now, by the server's clock), " +
				"or `eventKey`, the idempotency key of a past event of the outbox (GET /api/v1/events; it is evaluated at its own time; an unknown key is a 422). " +
				"The answer says whether the event matches the trigger (its type, then the filter; a filter that fails to evaluate does not match and says why in `filterError`) and its window partition, " +
				"and, for a matching event, what the gate would decide: the window counts the occurrences stored for that partition between the window's start and the event's time (the event itself excluded), plus this one. " +
				"Nothing is recorded and no action runs; the automation may be disabled. The cooldown is not evaluated: its state lives in the automation's workflow, not in the database, so the gate here never answers `cooldown`.",
			body: "AutomationTestRequest", status: 200, response: "AutomationTestResult"}},
		{method: get, path: v1 + "/automations/{automationId}/runs", auth: true, scope: cfgRead, handler: s.listAutomationRuns, doc: opDoc{id: "listAutomationRuns", tag: "Automations", summary: "An automation's fires with their action outcomes, newest first",
			desc:  "One item per action of a fire; its id is the action's idempotency key `<event key>:<automation id>:<action index>`. The outcome is pending until the action reports succeeded or failed.",
			query: []param{limitParam(100), offsetParam()}, status: 200, response: "AutomationFireList"}},
	}
	// Status page: uptime, badges, the live stream (openapi_status.go).
	routes = append(routes, s.statusPageRoutes()...)
	// The HTML status page (handlers_page.go).
	routes = append(routes, s.htmlPageRoutes()...)
	// Prometheus metrics (handlers_metrics.go).
	routes = append(routes, s.metricsRoutes()...)
	// Configuration as code: API tokens and provenance (handlers_gitops.go).
	routes = append(routes, s.gitOpsRoutes()...)
	// The secret store (handlers_secretstore.go).
	routes = append(routes, s.secretStoreRoutes()...)
	// The script test endpoint (handlers_scripttest.go).
	routes = append(routes, s.scriptTestRoutes()...)
	// Heartbeat pings (handlers_ping.go).
	routes = append(routes, s.pingRoutes()...)
	return routes
}
