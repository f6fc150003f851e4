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

/// A systemd unit name: `^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,254}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitName(String);

impl UnitName {
    /// Checks `s` against the unit-name rule.
    pub fn parse(s: impl Into<String>) -> Result<Self, ParamError> {
        let s = s.into();
        let ok = s.len() <= 255
            && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.@:-".contains(&b));
        if ok {
            Ok(UnitName(s))
        } else {
            Err(ParamError::new(
                "parameters.unit",
                format!("`{s}` is not a unit name (letters, digits and _.@:- , up to 255)"),
            ))
        }
    }

    /// The unit as text.
    pub fn as_str(&self) -> &str {
        &self.0
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
        let (digits, unit) = s.split_at(s.len().saturating_sub(1));
        let ok = matches!(unit, "d" | "h" | "m" | "s")
            && (1..=5).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(VacuumTime(s))
        } else {
            Err(ParamError::new(
                "parameters.vacuum_time",
                format!("`{s}` is not a duration such as 7d, 12h, 30m or 3600s"),
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

text_newtype!(UnitName, ParamError);
text_newtype!(VacuumTime, ParamError);

/// An action type with its parameters, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSpec {
    RestartService { unit: UnitName },
    ClearLogs { vacuum_time: VacuumTime },
    AptUpdate,
    AptUpgradeAll,
    AptUpgradeSecurity,
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
            _ => &[],
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
        }
    }

    /// The parameters as stored and shown (`None` for the apt actions).
    pub fn parameters(&self) -> Option<Value> {
        match self {
            ActionSpec::RestartService { unit } => Some(serde_json::json!({ "unit": unit })),
            ActionSpec::ClearLogs { vacuum_time } => {
                Some(serde_json::json!({ "vacuum_time": vacuum_time }))
            }
            _ => None,
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
    fn unit_names_follow_the_rule() {
        for ok in [
            "nginx",
            "nginx.service",
            "getty@tty1.service",
            "dev-sda1.device",
            "a",
        ] {
            assert!(UnitName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "a$(x)", &"a".repeat(256)] {
            assert!(UnitName::parse(bad).is_err(), "{bad}");
        }
    }
}
