package server

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/checkflow/checkflow/internal/notify"
	"github.com/checkflow/checkflow/internal/store"
)

// channelConfigSchemaName names the component schema of a channel type's config
// (ChannelConfigWebhook, ChannelConfigSlack, …).
func channelConfigSchemaName(typ string) string {
	return "ChannelConfig" + strings.ToUpper(typ[:1]) + typ[1:]
}

// channelCreateSchemaName names the create body of one channel type.
func channelCreateSchemaName(typ string) string {
	return "ChannelCreate" + strings.ToUpper(typ[:1]) + typ[1:]
}

// schemaKeywords are the JSON Schema keywords an OpenAPI 3.1 document may hold (those the
// API's OpenAPI tooling knows); x-… extensions are kept too.
var schemaKeywords = map[string]bool{
	"$ref": true, "oneOf": true, "anyOf": true, "allOf": true, "not": true, "type": true, "title": true, "format": true,
	"description": true, "enum": true, "default": true, "example": true, "externalDocs": true, "uniqueItems": true,
	"exclusiveMinimum": true, "exclusiveMaximum": true, "readOnly": true, "writeOnly": true, "deprecated": true,
	"minimum": true, "maximum": true, "multipleOf": true, "minLength": true, "maxLength": true, "pattern": true,
	"minItems": true, "maxItems": true, "items": true, "required": true, "properties": true, "minProperties": true,
	"maxProperties": true, "additionalProperties": true, "const": true, "examples": true, "prefixItems": true,
	"contains": true, "minContains": true, "maxContains": true, "patternProperties": true, "dependentSchemas": true,
	"propertyNames": true, "unevaluatedItems": true, "unevaluatedProperties": true, "if": true, "then": true, "else": true,
	"dependentRequired": true, "contentMediaType": true, "contentEncoding": true, "contentSchema": true,
}

// openAPISchema converts a JSON Schema of internal/notify into a component schema: keywords the
// document cannot hold ($schema, $id, unknown ones) are dropped, x-secret marks are kept.
func openAPISchema(raw json.RawMessage) schema {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return anyObject("")
	}
	out, ok := cleanSchema(v).(map[string]any)
	if !ok {
		return anyObject("")
	}
	return out
}

func cleanSchema(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v // a boolean schema
	}
	out := schema{}
	for k, val := range m {
		switch {
		case strings.HasPrefix(k, "x-"):
			out[k] = val
		case !schemaKeywords[k]:
		case k == "properties" || k == "patternProperties" || k == "dependentSchemas":
			if props, ok := val.(map[string]any); ok {
				cleaned := schema{}
				for name, p := range props {
					cleaned[name] = cleanSchema(p)
				}
				out[k] = cleaned
			}
		case k == "oneOf" || k == "anyOf" || k == "allOf" || k == "prefixItems":
			if list, ok := val.([]any); ok {
				cleaned := make([]any, len(list))
				for i, e := range list {
					cleaned[i] = cleanSchema(e)
				}
				out[k] = cleaned
			}
		case k == "items" || k == "additionalProperties" || k == "not" || k == "if" || k == "then" || k == "else" ||
			k == "contains" || k == "propertyNames" || k == "unevaluatedItems" || k == "unevaluatedProperties" || k == "contentSchema":
			out[k] = cleanSchema(val)
		default:
			out[k] = val
		}
	}
	return out
}

// notificationSchemas are the component schemas of the Notifications and Maintenance
// operations.
func notificationSchemas() schema {
	nullableTime := func(d string) schema { return describe(orNull(dateTime()), d) }
	systems := describe(schema{"type": "array", "minItems": 1, "maxItems": store.MaxChannelSystems, "items": schema{"type": "string", "minLength": 1}},
		`The systems whose notifications the channel gets: ["*"] for every system, or system ids (each must exist).`)
	events := describe(schema{"type": "array", "minItems": 1, "maxItems": len(store.ChannelEvents()), "uniqueItems": true, "items": ref("ChannelEvent")},
		"The events the channel gets.")
	remindEvery := describe(orNull(schema{"type": "string", "example": "30m"}),
		`While a system stays unhealthy or degraded, remind the channel this often: a Go duration of whole seconds between 1s and 168h (e.g. "30m", "4h"). null or absent: no reminders.`)
	name := schema{"type": "string", "minLength": 1, "maxLength": 200}
	uuidStr := schema{"type": "string", "format": "uuid"}

	out := schema{
		"ChannelType":  schema{"type": "string", "enum": notify.Types()},
		"ChannelEvent": schema{"type": "string", "enum": store.ChannelEvents()},
		"Channel": object([]string{"id", "name", "type", "config", "systems", "events", "remindEvery", "enabled", "failing", "failingSince",
			"consecutiveFailures", "lastError", "lastErrorAt", "lastSuccessAt", "createdAt", "updatedAt"}, schema{
			"id": uuidStr, "name": str(), "type": ref("ChannelType"),
			"config":  anyObject(`The channel type's config (its schema is ChannelConfig<Type>); x-secret values read "****".`),
			"systems": systems, "events": events,
			"remindEvery":         describe(orNull(str()), `The reminder interval as a Go duration ("30m0s"), or null.`),
			"enabled":             boolean(),
			"failing":             describe(boolean(), "Deliveries to the channel keep failing (failingSince is set); a notification.channel_failing event was written when it started."),
			"failingSince":        nullableTime("Since when the channel is failing; null when it works."),
			"consecutiveFailures": describe(intMin(0), "Failed deliveries since the last successful one."),
			"lastError":           describe(orNull(str()), "The last delivery error (secrets redacted)."),
			"lastErrorAt":         nullableTime("When the last delivery failed."),
			"lastSuccessAt":       nullableTime("When a delivery last succeeded."),
			"createdAt":           dateTime(), "updatedAt": dateTime(),
		}),
		"ChannelList": object([]string{"items"}, schema{"items": arrayOf(ref("Channel"))}),
		"ChannelPatch": object(nil, schema{
			"name":        name,
			"type":        describe(ref("ChannelType"), "Must be the channel's type: a type cannot change."),
			"config":      anyObject(`The whole config of the channel's type (ChannelConfig<Type>); a secret sent back as "****" keeps its stored value.`),
			"systems":     systems,
			"events":      events,
			"remindEvery": remindEvery,
			"enabled":     boolean(),
		}),
		"ChannelTestResult": object([]string{"deliveryId", "status", "durationMs"}, schema{
			"deliveryId": strDesc(`The recorded delivery ("test:<uuid>:<channelId>"), also sent to the receiver as the message id.`),
			"status":     schema{"type": "string", "enum": []string{"sent", "failed"}},
			"error":      strDesc("Why the send failed (secrets redacted); failed only."),
			"retryable":  describe(boolean(), "Whether a later attempt may succeed (network errors, 408, 429, 5xx); failed only."),
			"durationMs": describe(intMin(0), "How long the send took."),
		}),
		"DeliveryStatus": schema{"type": "string", "enum": []string{"pending", "sent", "failed"}},
		"Delivery": object([]string{"id", "channelId", "systemId", "event", "status", "attempts", "lastError", "createdAt", "sentAt"}, schema{
			"id":        strDesc(`"<event idempotency key>:<channelId>": the same on every retry, sent to receivers as the message id.`),
			"channelId": uuidStr,
			"systemId":  describe(orNull(str()), "null for test deliveries."),
			"event":     schema{"type": "string", "enum": []string{"escalation", "de-escalation", "recovery", "check_failed", "reminder", "test"}},
			"status":    ref("DeliveryStatus"),
			"attempts":  intMin(0),
			"lastError": describe(orNull(str()), "The last attempt's error (secrets redacted)."),
			"createdAt": dateTime(),
			"sentAt":    orNull(dateTime()),
		}),
		"DeliveryList": object([]string{"items"}, schema{
			"items":      arrayOf(ref("Delivery")),
			"nextCursor": strDesc("Pass as cursor for the next page; absent on the last page."),
		}),

		"MaintenanceState": describe(schema{"type": "string", "enum": []string{maintenanceScheduled, maintenanceActive, maintenanceEnded}},
			"scheduled: startsAt is in the future; active: startsAt ≤ now < endsAt; ended: endsAt ≤ now (server clock)."),
		"Maintenance": object([]string{"id", "title", "description", "systemIds", "startsAt", "endsAt", "state", "startedAt", "endedAt", "createdAt", "updatedAt"}, schema{
			"id": uuidStr, "title": str(), "description": str(), "systemIds": arrayOf(str()),
			"startsAt": dateTime(), "endsAt": dateTime(), "state": ref("MaintenanceState"),
			"startedAt": nullableTime("When the window's workflow handled its start."),
			"endedAt":   nullableTime("When the window's workflow handled its end."),
			"createdAt": dateTime(), "updatedAt": dateTime(),
		}),
		"MaintenanceCreate": object([]string{"title", "systemIds", "startsAt", "endsAt"}, schema{
			"title":       schema{"type": "string", "minLength": 1, "maxLength": maxMaintenanceTitle},
			"description": schema{"type": "string", "maxLength": maxMaintenanceDescription},
			"systemIds":   schema{"type": "array", "minItems": 1, "maxItems": maxMaintenanceSystems, "uniqueItems": true, "items": schema{"type": "string", "minLength": 1}},
			"startsAt":    dateTime(),
			"endsAt":      describe(dateTime(), "After startsAt and in the future."),
		}),
		"MaintenancePatch": object(nil, schema{
			"title":       schema{"type": "string", "minLength": 1, "maxLength": maxMaintenanceTitle},
			"description": schema{"type": "string", "maxLength": maxMaintenanceDescription},
			"systemIds":   schema{"type": "array", "minItems": 1, "maxItems": maxMaintenanceSystems, "uniqueItems": true, "items": schema{"type": "string", "minLength": 1}},
			"startsAt":    dateTime(),
			"endsAt":      dateTime(),
		}),
		"MaintenanceList": object([]string{"items"}, schema{"items": arrayOf(ref("Maintenance"))}),
	}

	// One create body per channel type, discriminated by type, each with its config schema.
	var variants []any
	mapping := schema{}
	for _, typ := range notify.Types() {
		cfg := openAPISchema(notify.ConfigSchema(typ))
		d, _ := cfg["description"].(string)
		cfg["description"] = strings.TrimSpace(d + fmt.Sprintf(`

The config of a %s channel. Fields marked x-secret are sealed at rest and read back as "****" (a non-string secret, such as headers, is sealed as its JSON text and masked whole).`, typ))
		out[channelConfigSchemaName(typ)] = cfg
		out[channelCreateSchemaName(typ)] = object([]string{"name", "type", "config"}, schema{
			"name":        name,
			"type":        schema{"type": "string", "enum": []string{typ}},
			"config":      ref(channelConfigSchemaName(typ)),
			"systems":     describe(systems, `Default ["*"] (every system).`),
			"events":      describe(events, "Default escalation, de-escalation, recovery."),
			"remindEvery": remindEvery,
			"enabled":     describe(boolean(), "Default true."),
		})
		variants = append(variants, ref(channelCreateSchemaName(typ)))
		mapping[typ] = "#/components/schemas/" + channelCreateSchemaName(typ)
	}
	out["ChannelCreate"] = schema{"oneOf": variants, "discriminator": schema{"propertyName": "type", "mapping": mapping},
		"description": "A new channel; type selects the config schema."}
	return out
}
