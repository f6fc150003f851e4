//! Action parameters, parsed once at the edge: an [`ActionSpec`] can only hold values
//! the rules allow, so every command built from it is safe.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ActionType;

/// Why a request's parameters were refused. `field` names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

impl ParamError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        ParamError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The agent's own systemd unit: never restarted through the agent, which would
/// stop itself mid-action.
pub const AGENT_UNIT: &str = "homelab-agent.service";

/// systemd's unit types other than `service` (`systemd.unit(5)`): a name ending in
/// one of them is such a unit, and is refused.
pub const OTHER_UNIT_TYPES: [&str; 10] = [
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

/// Services whose start powers off, reboots, halts or isolates the machine
/// (`SuccessAction=`, sulogin): `systemctl restart systemd-reboot.service` is a
/// forced reboot, so they are refused like the targets they stand for.
const MACHINE_STATE_SERVICES: [&str; 8] = [
    "systemd-poweroff.service",
    "systemd-reboot.service",
    "systemd-halt.service",
    "systemd-kexec.service",
    "systemd-soft-reboot.service",
    "systemd-exit.service",
    "emergency.service",
    "rescue.service",
];

/// A systemd service unit, normalised to its full name: a bare name means
/// `NAME.service` (as `systemctl` reads it), names of other unit types (`.target`,
/// `.socket`...), the agent's own unit and the services that reboot or power off the
/// machine are refused. Characters: letters, digits and `_.@:-`, up to 255.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitName(String);

impl UnitName {
    /// The longest unit name systemd accepts, suffix included.
    pub const MAX_LEN: usize = 255;

    /// Checks `s` and returns the full `.service` name.
    pub fn parse(s: impl Into<String>) -> Result<Self, ParamError> {
        let s = s.into();
        let refuse = |message: String| Err(ParamError::new("parameters.unit", message));
        let chars_ok = s.len() <= Self::MAX_LEN
            && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.@:-".contains(&b));
        if !chars_ok {
            return refuse(format!(
                "`{}` is not a unit name (letters, digits and _.@:- , up to 255)",
                shown(&s)
            ));
        }
        // Like systemctl: a known type suffix is the unit's type, anything else (such
        // as the `.2-fpm` of `php8.2-fpm`) is part of a service's name.
        let suffix = s.rsplit_once('.').map(|(_, suffix)| suffix);
        let full = match suffix {
            Some("service") => s,
            Some(t) if OTHER_UNIT_TYPES.contains(&t) => {
                return refuse(format!(
                    "`{s}` is a {t} unit; only .service units can be restarted"
                ));
            }
            _ => format!("{s}.service"),
        };
        if full.len() > Self::MAX_LEN {
            return refuse(format!(
                "`{}` is longer than 255 characters with its .service suffix",
                shown(&full)
            ));
        }
        if full == AGENT_UNIT {
            return refuse(format!(
                "`{full}` is the agent itself; restart it on the machine"
            ));
        }
        if MACHINE_STATE_SERVICES.contains(&full.as_str()) {
            return refuse(format!(
                "`{full}` reboots, powers off or isolates the machine; it cannot be restarted from here"
            ));
        }
        if full.ends_with("@.service") {
            return refuse(format!(
                "`{full}` is a template; name an instance, such as getty@tty1.service"
            ));
        }
        Ok(UnitName(full))
    }

    /// The unit as text, always ending in `.service`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A refused text as errors quote it: at most 64 characters.
fn shown(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// How much journal to keep: a number (1 to 99999) and a unit, `d`, `h`, `m` or `s`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VacuumTime(String);

impl VacuumTime {
    /// Checks `s`: `7d`, `12h`, `30m`, `3600s`.
    pub fn parse(s: impl Into<String>) -> Result<Self, ParamError> {
        let s = s.into();
        // strip_suffix, not a byte split: the last character may be several bytes.
        let digits = s.strip_suffix(['d', 'h', 'm', 's']).unwrap_or("");
        let ok = (1..=5).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(VacuumTime(s))
        } else {
            Err(ParamError::new(
                "parameters.vacuum_time",
                format!(
                    "`{}` is not a duration such as 7d, 12h, 30m or 3600s",
                    shown(&s)
                ),
            ))
        }
    }

    /// The default: a week.
    pub fn week() -> Self {
        VacuumTime("7d".to_owned())
    }

    /// The duration as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id a form or a script gives one request to create an action, so that sending
/// it twice creates one action: 1 to 64 letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    /// Checks `s`.
    pub fn parse(s: impl Into<String>) -> Result<Self, ParamError> {
        let s = s.into();
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(RequestId(s))
        } else {
            Err(ParamError::new(
                "request_id",
                "1 to 64 letters, digits, '-' or '_'",
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(RequestId, ParamError);
text_newtype!(UnitName, ParamError);
text_newtype!(VacuumTime, ParamError);
text_schema!(
    RequestId,
    "A client's key for one request: 1 to 64 letters, digits, `-` or `_`.",
    length = 1..=64,
    pattern = "^[A-Za-z0-9_-]{1,64}$",
);
text_schema!(
    UnitName,
    "A systemd service unit; a bare name means `NAME.service`. Other unit types, \
     templates, the agent's own unit and the units that reboot or power off the \
     machine are refused.",
    length = 1..=UnitName::MAX_LEN,
    pattern = "^[A-Za-z0-9][A-Za-z0-9_.@:-]*$",
    example = "nginx.service",
);
text_schema!(
    VacuumTime,
    "How much journal to keep: 1 to 99999 and a unit, `d`, `h`, `m` or `s`.",
    length = 2..=6,
    pattern = "^[1-9][0-9]{0,4}[dhms]$",
    example = "7d",
);

/// An action type with its parameters, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSpec {
    RestartService { unit: UnitName },
    ClearLogs { vacuum_time: VacuumTime },
    AptUpdate,
    AptUpgradeAll,
    AptUpgradeSecurity,
    Reboot,
}

/// How an action's `parameters` look in the server's OpenAPI document: what
/// [`ActionSpec::parse`] reads and [`ActionSpec::parameters`] writes.
#[cfg(feature = "openapi")]
pub fn parameters_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::PartialSchema;
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "`{\"unit\"}` for `restart_service`; `{\"vacuum_time\"}` for `clear_logs` \
             (default `7d`); null for the other kinds. Any other key is refused.",
        ))
        .property("unit", UnitName::schema())
        .property("vacuum_time", VacuumTime::schema())
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

impl ActionSpec {
    /// Parses the parameters of a request for `action_type`. Unknown parameters, and
    /// any parameter for the apt actions, are refused.
    pub fn parse(action_type: ActionType, parameters: Option<&Value>) -> Result<Self, ParamError> {
        let object = match parameters {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(ParamError::new("parameters", "must be a JSON object")),
        };
        let allowed: &[&str] = match action_type {
            ActionType::RestartService => &["unit"],
            ActionType::ClearLogs => &["vacuum_time"],
            ActionType::AptUpdate
            | ActionType::AptUpgradeAll
            | ActionType::AptUpgradeSecurity
            | ActionType::Reboot => &[],
        };
        if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ParamError::new(
                &format!("parameters.{unknown}"),
                format!("unknown parameter for {action_type}"),
            ));
        }
        let text = |key: &str| -> Result<Option<String>, ParamError> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ParamError::new(
                    &format!("parameters.{key}"),
                    "must be a string",
                )),
            }
        };
        Ok(match action_type {
            ActionType::RestartService => ActionSpec::RestartService {
                unit: UnitName::parse(
                    text("unit")?
                        .ok_or_else(|| ParamError::new("parameters.unit", "is required"))?,
                )?,
            },
            ActionType::ClearLogs => ActionSpec::ClearLogs {
                vacuum_time: text("vacuum_time")?
                    .map(VacuumTime::parse)
                    .transpose()?
                    .unwrap_or_else(VacuumTime::week),
            },
            ActionType::AptUpdate => ActionSpec::AptUpdate,
            ActionType::AptUpgradeAll => ActionSpec::AptUpgradeAll,
            ActionType::AptUpgradeSecurity => ActionSpec::AptUpgradeSecurity,
            ActionType::Reboot => ActionSpec::Reboot,
        })
    }

    /// The action type.
    pub fn action_type(&self) -> ActionType {
        match self {
            ActionSpec::RestartService { .. } => ActionType::RestartService,
            ActionSpec::ClearLogs { .. } => ActionType::ClearLogs,
            ActionSpec::AptUpdate => ActionType::AptUpdate,
            ActionSpec::AptUpgradeAll => ActionType::AptUpgradeAll,
            ActionSpec::AptUpgradeSecurity => ActionType::AptUpgradeSecurity,
            ActionSpec::Reboot => ActionType::Reboot,
        }
    }

    /// The parameters as stored and shown (`None` for the kinds without any).
    pub fn parameters(&self) -> Option<Value> {
        match self {
            ActionSpec::RestartService { unit } => Some(serde_json::json!({ "unit": unit })),
            ActionSpec::ClearLogs { vacuum_time } => {
                Some(serde_json::json!({ "vacuum_time": vacuum_time }))
            }
            ActionSpec::AptUpdate
            | ActionSpec::AptUpgradeAll
            | ActionSpec::AptUpgradeSecurity
            | ActionSpec::Reboot => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn good_parameters_parse() {
        let restart = ActionSpec::parse(
            ActionType::RestartService,
            Some(&json!({"unit": "nginx.service"})),
        );
        assert_eq!(
            restart.unwrap().parameters(),
            Some(json!({"unit": "nginx.service"}))
        );
        let logs = ActionSpec::parse(ActionType::ClearLogs, None).unwrap();
        assert_eq!(logs.parameters(), Some(json!({"vacuum_time": "7d"})));
        for t in [
            ActionType::AptUpdate,
            ActionType::AptUpgradeAll,
            ActionType::AptUpgradeSecurity,
        ] {
            assert_eq!(
                ActionSpec::parse(t, Some(&json!({})))
                    .unwrap()
                    .action_type(),
                t
            );
            assert_eq!(ActionSpec::parse(t, None).unwrap().parameters(), None);
        }
    }

    #[test]
    fn bad_parameters_are_refused_naming_the_field() {
        let cases = [
            (ActionType::RestartService, json!({}), "parameters.unit"),
            (
                ActionType::RestartService,
                json!({"unit": "-nginx"}),
                "parameters.unit",
            ),
            (
                ActionType::RestartService,
                json!({"unit": "a b"}),
                "parameters.unit",
            ),
            (
                ActionType::RestartService,
                json!({"unit": "x;reboot"}),
                "parameters.unit",
            ),
            (
                ActionType::RestartService,
                json!({"unit": 5}),
                "parameters.unit",
            ),
            (
                ActionType::RestartService,
                json!({"unit": "nginx", "force": true}),
                "parameters.force",
            ),
            (
                ActionType::ClearLogs,
                json!({"vacuum_time": "7 days"}),
                "parameters.vacuum_time",
            ),
            (
                ActionType::ClearLogs,
                json!({"vacuum_time": "0d"}),
                "parameters.vacuum_time",
            ),
            (
                ActionType::ClearLogs,
                json!({"vacuum_time": "1000000d"}),
                "parameters.vacuum_time",
            ),
            (
                ActionType::AptUpdate,
                json!({"options": "-o x"}),
                "parameters.options",
            ),
            (ActionType::AptUpgradeAll, json!(["x"]), "parameters"),
        ];
        for (t, params, field) in cases {
            let err = ActionSpec::parse(t, Some(&params)).unwrap_err();
            assert_eq!(err.field, field, "{t} {params}: {err}");
        }
    }

    #[test]
    fn service_units_are_accepted_and_bare_names_mean_services() {
        for (given, full) in [
            ("nginx", "nginx.service"),
            ("nginx.service", "nginx.service"),
            ("php8.2-fpm", "php8.2-fpm.service"),
            ("getty@tty1.service", "getty@tty1.service"),
            ("getty@tty1", "getty@tty1.service"),
            ("a", "a.service"),
            ("systemd-journald", "systemd-journald.service"),
            ("homelab-agent2", "homelab-agent2.service"),
        ] {
            assert_eq!(UnitName::parse(given).unwrap().as_str(), full, "{given}");
        }
        let restart =
            ActionSpec::parse(ActionType::RestartService, Some(&json!({"unit": "nginx"})));
        assert_eq!(
            restart.unwrap().parameters(),
            Some(json!({"unit": "nginx.service"})),
            "what is stored, shown and deduplicated is the full name"
        );
    }

    #[test]
    fn other_unit_types_the_agent_and_power_services_are_refused_with_a_reason() {
        for (bad, reason) in [
            ("poweroff.target", "target unit"),
            ("reboot.target", "target unit"),
            ("emergency.target", "target unit"),
            ("ssh.socket", "socket unit"),
            ("home.mount", "mount unit"),
            ("dev-sda1.device", "device unit"),
            ("apt-daily.timer", "timer unit"),
            ("user.slice", "slice unit"),
            ("homelab-agent", "the agent itself"),
            ("homelab-agent.service", "the agent itself"),
            ("systemd-reboot.service", "reboots"),
            ("systemd-poweroff", "reboots"),
            ("emergency", "reboots"),
            ("rescue.service", "reboots"),
            ("getty@.service", "template"),
            ("", "not a unit name"),
            ("-x", "not a unit name"),
            (".x", "not a unit name"),
            ("a/b", "not a unit name"),
            ("a b", "not a unit name"),
            ("a$(x)", "not a unit name"),
            ("ｎginx", "not a unit name"),
            (&"a".repeat(256), "not a unit name"),
            (&"a".repeat(250), "longer than 255"),
        ] {
            let err = UnitName::parse(bad).unwrap_err();
            assert_eq!(err.field, "parameters.unit");
            assert!(err.message.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn serde_refuses_what_parse_refuses() {
        assert!(serde_json::from_value::<UnitName>(json!("poweroff.target")).is_err());
        assert_eq!(
            serde_json::from_value::<UnitName>(json!("nginx"))
                .unwrap()
                .as_str(),
            "nginx.service"
        );
    }

    #[test]
    fn vacuum_times_take_a_number_and_a_unit() {
        for ok in ["7d", "12h", "30m", "3600s", "99999d"] {
            assert!(VacuumTime::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "d", "0d", "7", "7w", "100000d", "7é", "é", "7 d", "+7d", "-7d",
        ] {
            assert!(VacuumTime::parse(bad).is_err(), "{bad}");
        }
    }
}
