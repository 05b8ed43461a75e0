package server

import (
	"fmt"
	"strings"

	"github.com/checkflow/checkflow/internal/automation"
	"github.com/checkflow/checkflow/internal/health"
)

// automationActionSchemaName names the component schema of one action type
// (AutomationActionNotify, AutomationActionRunCheck, …); its config is that name + "Config".
func automationActionSchemaName(t automation.ActionType) string {
	var b strings.Builder
	b.WriteString("AutomationAction")
	for _, part := range strings.Split(string(t), "_") {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// automationSchemas are the component schemas of the Automations operations.
func automationSchemas() schema {
	uuidStr := schema{"type": "string", "format": "uuid"}
	ids := func() schema {
		return schema{
			"systemId":        schema{"type": "string", "minLength": 1, "maxLength": 128, "description": "A system that exists."},
			"configurationId": schema{"type": "string", "minLength": 1, "maxLength": 200, "description": "A check (configuration id) that exists."},
		}
	}
	expr := func(d string) schema {
		return schema{"type": "string", "minLength": 1, "maxLength": automation.MaxExpressionLength, "description": d}
	}
	name := schema{"type": "string", "minLength": 1, "maxLength": automation.MaxNameLength}
	cooldown := describe(schema{"type": "integer", "minimum": 0, "maximum": automation.MaxCooldownSeconds},
		"After a fire, further fires of the same partition are suppressed for this long (0: none).")
	actions := describe(schema{"type": "array", "minItems": 1, "maxItems": automation.MaxActions, "items": ref("AutomationAction")},
		"Run in order on every fire.")
	enabled := describe(boolean(), "Disabled automations receive no events.")

	out := schema{
		"AutomationEventType": describe(schema{"type": "string", "enum": automation.EventTypes()}, "A trigger event."),
		"AutomationWindow": describe(object([]string{"count", "minutes"}, schema{
			"count":   schema{"type": "integer", "minimum": health.MinWindowCount, "maximum": health.MaxWindowCount},
			"minutes": schema{"type": "integer", "minimum": health.MinWindowMinutes, "maximum": health.MaxWindowMinutes},
			"refire": describe(schema{"type": "string", "enum": []string{health.RefireEvery, health.RefireOnce}, "default": health.RefireEvery},
				"every: fire at every matching event while count or more happened within the window; once: only at the one that reaches count."),
			"partitionBy": expr("A CEL expression whose value partitions the counts and the cooldown (default: the payload's systemId; a failing or empty value falls back to it), e.g. `trigger.payload.configurationId`."),
		}), "The windowed-count gate: fire when count matching events of one partition happened within minutes."),
		"AutomationTrigger": object([]string{"event"}, schema{
			"event": ref("AutomationEventType"),
			"filter": expr("A CEL expression over `trigger.event` (string) and `trigger.payload` (the event's payload, with exactly its schema's fields) that must be true for the event to count, " +
				"e.g. `trigger.payload.newStatus != \"healthy\"`. Absent: every event of the type counts."),
			"window": ref("AutomationWindow"),
		}),

		"AutomationActionNotifyConfig": object([]string{"channelId"}, schema{
			"channelId": describe(uuidStr, "A notification channel that exists."),
			"title":     schema{"type": "string", "maxLength": automation.MaxTitleLength, "description": "A Go text/template over .AutomationName, .Event, .Payload, … (default: " + automation.DefaultNotifyTitle + ")."},
			"body":      schema{"type": "string", "maxLength": automation.MaxBodyLength, "description": "A Go text/template (default: " + automation.DefaultNotifyBody + ")."},
		}),
		"AutomationActionRunCheckConfig": object([]string{"systemId", "configurationId"}, ids()),
		"AutomationActionSetAssignmentEnabledConfig": object([]string{"systemId", "configurationId", "enabled"}, func() schema {
			p := ids()
			p["enabled"] = boolean()
			return p
		}()),
		"AutomationActionWebhookConfig": object([]string{"url"}, schema{
			"url": schema{"type": "string", "minLength": 1, "maxLength": automation.MaxURLLength, "description": "An absolute http or https URL."},
			"secret": schema{"type": "string", "x-secret": true,
				"description": `Signs the body (X-Checkflow-Signature, like notification webhooks). Sealed at rest and read back as "****".`},
		}),

		"Automation": object([]string{"id", "revision", "name", "enabled", "trigger", "cooldownSeconds", "actions", "createdAt", "updatedAt"}, schema{
			"id":              uuidStr,
			"revision":        describe(intMin(1), "1 on create, +1 on every change."),
			"name":            str(),
			"enabled":         boolean(),
			"trigger":         ref("AutomationTrigger"),
			"cooldownSeconds": cooldown,
			"actions":         arrayOf(ref("AutomationAction")),
			"createdAt":       dateTime(),
			"updatedAt":       dateTime(),
		}),
		"AutomationCreate": object([]string{"name", "trigger", "actions"}, schema{
			"name":            name,
			"enabled":         describe(enabled, "Default true."),
			"trigger":         ref("AutomationTrigger"),
			"cooldownSeconds": describe(cooldown, "Default 0."),
			"actions":         actions,
		}),
		"AutomationPatch": object(nil, schema{
			"name":            name,
			"enabled":         enabled,
			"trigger":         describe(ref("AutomationTrigger"), "Replaces the whole trigger (leave filter or window out to remove them)."),
			"cooldownSeconds": cooldown,
			"actions":         describe(actions, `Replaces every action; a webhook secret left out or sent as "****" keeps the stored action's at the same position.`),
		}),
		"AutomationList": object([]string{"items"}, schema{"items": arrayOf(ref("Automation"))}),

		"AutomationTestRequest": describe(object(nil, schema{
			"event": describe(object([]string{"payload"}, schema{
				"type":    describe(ref("AutomationEventType"), "Default: the automation's trigger event."),
				"payload": anyObject("The event's payload; checked against the event type's schema."),
			}), "A sample event."),
			"eventKey": strDesc("The idempotency key of a past event of the outbox (GET /api/v1/events)."),
		}), "Exactly one of event and eventKey."),
		"AutomationGate": object([]string{"fire", "reason", "count"}, schema{
			"fire": describe(boolean(), "The actions would run."),
			"reason": describe(schema{"type": "string", "enum": []string{string(automation.GateFired), string(automation.GateBelowCount),
				string(automation.GateAlreadyCrossed), string(automation.GateCooldown), string(automation.GateInvalidWindow)}},
				"Why (cooldown never here: the cooldown is not evaluated by this endpoint)."),
			"count":         describe(intMin(0), "The occurrences in the window, this one included (0 without a window)."),
			"cooldownUntil": dateTime(),
		}),
		"AutomationTestResult": object([]string{"matched", "partitionKey", "at", "gate"}, schema{
			"matched":           describe(boolean(), "The event has the trigger's type and passes the filter."),
			"partitionKey":      describe(str(), "The event's window and cooldown partition (partitionBy's value, else the payload's systemId); empty when it did not match."),
			"partitionFallback": strDesc("Why the payload's systemId was used although partitionBy is set (it failed or was empty)."),
			"filterError":       strDesc("The filter failed to evaluate (e.g. an absent optional field read without has()): the event does not match."),
			"at":                describe(dateTime(), "The time the event is evaluated at: the past event's time, or the server's clock for a sample."),
			"gate":              describe(orNull(ref("AutomationGate")), "The gate's decision for a matching event without cooldown state; null when the event did not match."),
		}),

		"AutomationFireOutcome": schema{"type": "string", "enum": []string{"pending", "succeeded", "failed"}},
		"AutomationFire": object([]string{"id", "automationId", "eventKey", "eventType", "partitionKey", "actionIndex", "actionType", "outcome", "firedAt", "createdAt"}, schema{
			"id":           strDesc("The action's idempotency key `<event key>:<automation id>:<action index>`."),
			"automationId": uuidStr,
			"eventKey":     strDesc("The idempotency key of the event that fired."),
			"eventType":    str(),
			"partitionKey": str(),
			"actionIndex":  intMin(0),
			"actionType":   schema{"type": "string", "enum": actionTypeNames()},
			"outcome":      ref("AutomationFireOutcome"),
			"detail":       strDesc("Why the action failed, or a short description of its success."),
			"result":       anyObject("The action's result document (e.g. the assignment artifact)."),
			"firedAt":      describe(dateTime(), "When the gate fired."),
			"finishedAt":   describe(dateTime(), "When the outcome was recorded (absent while pending)."),
			"createdAt":    dateTime(),
		}),
		"AutomationFireList": object([]string{"items"}, schema{"items": arrayOf(ref("AutomationFire"))}),
	}

	// One action schema per type, discriminated by type, each with its config schema.
	var variants []any
	mapping := schema{}
	for _, t := range automation.ActionTypes() {
		n := automationActionSchemaName(t)
		out[n] = describe(object([]string{"type", "config"}, schema{
			"type":   schema{"type": "string", "enum": []string{string(t)}},
			"config": ref(n + "Config"),
		}), fmt.Sprintf("A %s action.", t))
		variants = append(variants, ref(n))
		mapping[string(t)] = "#/components/schemas/" + n
	}
	out["AutomationAction"] = schema{"oneOf": variants, "discriminator": schema{"propertyName": "type", "mapping": mapping},
		"description": "One action; type selects the config schema."}
	return out
}

func actionTypeNames() []string {
	var out []string
	for _, t := range automation.ActionTypes() {
		out = append(out, string(t))
	}
	return out
}
