//! Checks across fields, after each value has been read (and checked) on its own: unique ids and
//! names, zones that rules name, calibration for rules that measure in metres, labels the model
//! knows. Each error is located through the spans kept for the fields involved.

use super::*;

impl Config {
    /// Check each camera's `labels` against the model's label list.
    pub fn check_labels(&self, known: &[String]) -> Result<(), ConfigError> {
        for (i, cam) in self.cameras.iter().enumerate() {
            for (j, label) in cam.labels.iter().enumerate() {
                if !known.iter().any(|k| k == label.get_ref()) {
                    return Err(ConfigError::at(
                        &self.path,
                        &self.text,
                        label.span(),
                        format!("cameras[{i}].labels[{j}]"),
                        format!(
                            "camera `{}`: the model has no label `{}` (it knows {})",
                            cam.id.get_ref().0,
                            label.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) fn validate(&self, text: &str) -> Result<(), ConfigError> {
        let file = &self.path;
        if self.mqtt.password.is_some() && self.mqtt.username.is_none() {
            let msg = "a password without a username is never sent: set mqtt.username too";
            // Where `password =` is written in [mqtt], when it is (not in an inline table).
            return Err(match text.find("[mqtt]").map(|at| key_span(text, at..at + 6, "password")) {
                Some(span) if span.len() == "password".len() => ConfigError::at(file, text, span, "mqtt.password", msg),
                _ => ConfigError { key: Some("mqtt.password".into()), ..ConfigError::new(file, msg) },
            });
        }
        self.tls_client_config()?;
        if let Some(a) = self.announce(|_| true)
            && a.components().len() != a.component_count()
        {
            let msg = "two Home Assistant components would get the same id (they are `<camera>_fps`, \
                       `<camera>_<line>_<direction>`, `<camera>_rule_<rule>`, ...): rename a camera, line or rule";
            return Err(ConfigError { key: Some("mqtt.discovery".into()), ..ConfigError::new(file, msg) });
        }
        if self.cameras.is_empty() {
            return Err(ConfigError::new(file, "no cameras: add at least one [[cameras]] table"));
        }
        for (i, cam) in self.cameras.iter().enumerate() {
            if let Some(prev) = self.cameras[..i].iter().find(|c| c.id.get_ref() == cam.id.get_ref()) {
                let (line, _) = line_col(text, prev.id.span().start);
                return Err(ConfigError::at(
                    file,
                    text,
                    cam.id.span(),
                    format!("cameras[{i}].id"),
                    format!("camera id `{}` is already used on line {line}", cam.id.get_ref().0),
                ));
            }
            if let Some(carry) = &cam.carry_fps
                && carry.get_ref().0 <= cam.detect_fps.0
            {
                return Err(ConfigError::at(
                    file,
                    text,
                    carry.span(),
                    format!("cameras[{i}].carry_fps"),
                    format!(
                        "camera `{}`: carry_fps {} is not above detect_fps {}: boxes are carried onto the decoded \
                         frames between detections, so set it above detect_fps (e.g. 15), or remove it",
                        cam.id.get_ref().0,
                        carry.get_ref().0,
                        cam.detect_fps.0
                    ),
                ));
            }
            self.validate_zones_and_rules(i, cam, text)?;
            for (j, line) in cam.lines.iter().enumerate() {
                if cam.lines[..j].iter().any(|l| l.name.get_ref() == line.name.get_ref()) {
                    return Err(ConfigError::at(
                        file,
                        text,
                        line.name.span(),
                        format!("cameras[{i}].lines[{j}].name"),
                        format!("camera `{}` has two lines named `{}`", cam.id.get_ref().0, line.name.get_ref().0),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_zones_and_rules(&self, i: usize, cam: &CameraConfig, text: &str) -> Result<(), ConfigError> {
        let (file, id) = (&self.path, &cam.id.get_ref().0);
        for (j, zone) in cam.zones.iter().enumerate() {
            if cam.zones[..j].iter().any(|z| z.name.get_ref() == zone.name.get_ref()) {
                return Err(ConfigError::at(
                    file,
                    text,
                    zone.name.span(),
                    format!("cameras[{i}].zones[{j}].name"),
                    format!("camera `{id}` has two zones named `{}`", zone.name.get_ref().0),
                ));
            }
        }
        if let Some(c) = &cam.calibration
            && let Err(e) = Homography::from_pairs(&c.image.get_ref().0, &c.ground.get_ref().0)
        {
            return Err(ConfigError::at(
                file,
                text,
                c.image.span(),
                format!("cameras[{i}].calibration"),
                format!("camera `{id}`: bad ground calibration: {e}"),
            ));
        }
        for (j, rule) in cam.rules.iter().enumerate() {
            let (r, span) = (rule.get_ref(), rule.span());
            let name = &r.name().0;
            // Rules are read through serde's buffering (internally tagged), which loses the
            // places of their keys: find the key's line inside the rule's table instead.
            let at_key = |key: &str, message: String| {
                ConfigError::at(
                    file,
                    text,
                    key_span(text, span.clone(), key),
                    format!("cameras[{i}].rules[{j}].{key}"),
                    message,
                )
            };
            if cam.rules[..j].iter().any(|o| o.get_ref().name() == r.name()) {
                return Err(at_key("name", format!("camera `{id}` has two rules named `{name}`")));
            }
            if cam.zone(r.zone()).is_none() {
                let known: Vec<&str> = cam.zones.iter().map(|z| z.name.get_ref().0.as_str()).collect();
                return Err(at_key(
                    "zone",
                    format!(
                        "rule `{name}` of camera `{id}` names zone `{}`, which the camera does not have (it has: {})",
                        r.zone().0,
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                ));
            }
            if let RuleConfig::StoppedVehicle(sv) = r {
                match (&sv.max_move_m, &sv.max_move_px) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(at_key(
                            "max_move_m",
                            format!("rule `{name}` of camera `{id}`: set exactly one of max_move_m and max_move_px"),
                        ));
                    }
                    _ => {}
                }
            }
            if let RuleConfig::WrongWay(w) = r {
                if w.min_distance_m.is_some() == w.min_distance_px.is_some() {
                    return Err(at_key(
                        "min_distance_m",
                        format!(
                            "rule `{name}` of camera `{id}`: set exactly one of min_distance_m and min_distance_px"
                        ),
                    ));
                }
                match (&w.direction, &w.line, &w.line_direction) {
                    (Some(_), None, None) => {}
                    (None, Some(line), Some(dir)) => {
                        let Some(l) = cam.lines.iter().find(|l| l.name.get_ref() == line) else {
                            let known: Vec<&str> = cam.lines.iter().map(|l| l.name.get_ref().0.as_str()).collect();
                            return Err(at_key(
                                "line",
                                format!(
                                    "rule `{name}` of camera `{id}` names line `{}`, which the camera does not have (it has: {})",
                                    line.0,
                                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                                ),
                            ));
                        };
                        if !l.directions.0.contains(&dir.0) {
                            return Err(at_key(
                                "line_direction",
                                format!(
                                    "rule `{name}` of camera `{id}`: line `{}` has directions `{}` and `{}`, not `{}`",
                                    line.0, l.directions.0[0], l.directions.0[1], dir.0
                                ),
                            ));
                        }
                    }
                    _ => {
                        return Err(at_key(
                            "direction",
                            format!(
                                "rule `{name}` of camera `{id}`: give the allowed direction either as direction = [dx, dy] or as line and line_direction"
                            ),
                        ));
                    }
                }
            }
            if r.needs_calibration() && cam.calibration.is_none() {
                let key = match r {
                    RuleConfig::StoppedVehicle(_) => "max_move_m",
                    RuleConfig::WrongWay(_) => "min_distance_m",
                    _ => "kind",
                };
                let hint = match r {
                    RuleConfig::StoppedVehicle(_) => ": add one, or use max_move_px",
                    RuleConfig::WrongWay(_) => ": add one, or use min_distance_px",
                    _ => ": add one (see docs/rules.md, Ground calibration)",
                };
                return Err(at_key(
                    key,
                    format!(
                        "rule `{name}` of camera `{id}` measures in metres ({} rule), but the camera has no [cameras.calibration]{hint}",
                        r.kind()
                    ),
                ));
            }
        }
        Ok(())
    }
}
