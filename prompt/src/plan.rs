//! VideoDirectorGPT-style plan: shot list with camera metadata, scene dependencies, narrative flow
//! and consistency groupings (`06_videodirectorgpt_plan.json`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VideoPlan {
    pub shots: Vec<Shot>,
    #[serde(default)]
    pub scene_dependencies: Vec<Dependency>,
    pub narrative_flow: String,
    #[serde(default)]
    pub consistency_groups: Vec<ConsistencyGroup>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Shot {
    pub shot_id: String,
    pub description: String,
    pub camera: CameraSpec,
    pub duration_seconds: f64,
    #[serde(default)]
    pub entities: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CameraSpec {
    pub shot_size: String,
    pub movement: String,
    #[serde(default)]
    pub angle: String,
    #[serde(default)]
    pub lens: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dependency {
    pub from: String,
    pub to: String,
    pub relation: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConsistencyGroup {
    pub group_id: String,
    pub entity: String,
    pub shots: Vec<String>,
    #[serde(default)]
    pub attributes: String,
}

/// Largest shot count accepted from a planner.
pub const MAX_SHOTS: usize = 12;

impl VideoPlan {
    /// Checks what serde cannot: ids unique and referenced ids existing, durations sane.
    pub fn validate(&self) -> Result<(), String> {
        if self.shots.is_empty() || self.shots.len() > MAX_SHOTS {
            return Err(format!(
                "a plan needs 1..={MAX_SHOTS} shots, got {}",
                self.shots.len()
            ));
        }
        let mut ids: Vec<&str> = Vec::new();
        for s in &self.shots {
            if s.shot_id.trim().is_empty() {
                return Err("a shot has an empty shot_id".into());
            }
            if ids.contains(&s.shot_id.as_str()) {
                return Err(format!("shot_id {:?} is used twice", s.shot_id));
            }
            if s.description.trim().is_empty() {
                return Err(format!("shot {} has an empty description", s.shot_id));
            }
            if !(s.duration_seconds > 0.0 && s.duration_seconds <= 60.0) {
                return Err(format!(
                    "shot {} has duration_seconds {} (must be in (0, 60])",
                    s.shot_id, s.duration_seconds
                ));
            }
            if s.camera.shot_size.trim().is_empty() || s.camera.movement.trim().is_empty() {
                return Err(format!(
                    "shot {} lacks camera shot_size or movement",
                    s.shot_id
                ));
            }
            ids.push(&s.shot_id);
        }
        for d in &self.scene_dependencies {
            for id in [&d.from, &d.to] {
                if !ids.contains(&id.as_str()) {
                    return Err(format!("scene dependency refers to unknown shot {id:?}"));
                }
            }
            if d.from == d.to {
                return Err(format!("shot {} depends on itself", d.from));
            }
        }
        for g in &self.consistency_groups {
            if g.shots.is_empty() {
                return Err(format!("consistency group {} lists no shots", g.group_id));
            }
            for id in &g.shots {
                if !ids.contains(&id.as_str()) {
                    return Err(format!(
                        "consistency group {} refers to unknown shot {id:?}",
                        g.group_id
                    ));
                }
            }
        }
        if self.narrative_flow.trim().is_empty() {
            return Err("narrative_flow is empty".into());
        }
        Ok(())
    }
}

/// The JSON shape asked of an LLM planner (also documents the schema in the README).
pub const PLAN_SCHEMA_HINT: &str = r#"{"shots":[{"shot_id":"S1","description":"...","camera":{"shot_size":"wide shot","movement":"slow dolly-in","angle":"eye-level","lens":"35mm"},"duration_seconds":3.0,"entities":["..."]}],"scene_dependencies":[{"from":"S1","to":"S2","relation":"continues action"}],"narrative_flow":"...","consistency_groups":[{"group_id":"G1","entity":"...","shots":["S1","S2"],"attributes":"..."}]}"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> VideoPlan {
        serde_json::from_str(PLAN_SCHEMA_HINT.replace("\"shots\":[\"S1\",\"S2\"]", "\"shots\":[\"S1\"]").replace(
            "\"scene_dependencies\":[{\"from\":\"S1\",\"to\":\"S2\",\"relation\":\"continues action\"}]",
            "\"scene_dependencies\":[]",
        ).as_str())
        .unwrap()
    }

    #[test]
    fn schema_hint_is_a_valid_plan_shape() {
        plan().validate().unwrap();
        let raw: Result<VideoPlan, _> = serde_json::from_str(PLAN_SCHEMA_HINT);
        assert!(raw
            .unwrap()
            .validate()
            .unwrap_err()
            .contains("unknown shot"));
    }

    #[test]
    fn validation_rejects_bad_references_and_durations() {
        let mut p = plan();
        p.shots[0].duration_seconds = 0.0;
        assert!(p.validate().is_err());
        let mut p = plan();
        p.shots.push(p.shots[0].clone());
        assert!(p.validate().unwrap_err().contains("twice"));
        let mut p = plan();
        p.shots.clear();
        assert!(p.validate().is_err());
    }
}
