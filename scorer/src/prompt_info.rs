//! Any-prompt parser: a free-form prompt → the auxiliary info VBench's five semantic dimensions
//! read from `VBench_full_info.json` (object, objects with counts, colour, spatial relation,
//! scene). Deterministic and rule-based; an LLM reply (JSON) can be validated into the same
//! structure with [`PromptInfo::from_llm_json`], which returns `None` on a bad reply so the caller
//! falls back to [`parse_prompt`].
//!
//! Vocabularies: the COCO class names VBench's object dimensions use (GRiT's ObjectDet texts),
//! VBench's colour words, its four spatial relations, and its 86 scene strings
//! (`data/vbench_scenes.txt`). A prompt in VBench's suite parses to its `auxiliary_info`.

use serde::{Deserialize, Serialize};

/// VBench's 86 scene strings (`VBench_full_info.json`, dimension `scene`).
pub const VBENCH_SCENES: &str = include_str!("../data/vbench_scenes.txt");

/// COCO class names (GRiT's ObjectDet vocabulary; `mouse` included here for parsing).
pub const COCO: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// Other nouns accepted as objects (not detectable by name in GRiT's COCO vocabulary, but what a
/// reader expects to see checked), with their COCO equivalent where one exists.
const EXTRA_OBJECTS: [(&str, Option<&str>); 12] = [
    ("man", Some("person")),
    ("woman", Some("person")),
    ("boy", Some("person")),
    ("girl", Some("person")),
    ("child", Some("person")),
    ("people", Some("person")),
    ("astronaut", Some("person")),
    ("motorbike", Some("motorcycle")),
    ("plane", Some("airplane")),
    ("sofa", Some("couch")),
    ("television", Some("tv")),
    ("robot", None),
];

/// VBench's colour words (`color.py`) plus "gray"/"grey".
pub const COLORS: [&str; 11] = [
    "red", "green", "blue", "yellow", "orange", "purple", "pink", "black", "white", "gray", "grey",
];

/// Clothing nouns: "in a red shirt" is no place.
const CLOTHING: [&str; 12] = [
    "shirt", "dress", "jacket", "coat", "hat", "suit", "uniform", "costume", "sweater", "t-shirt",
    "skirt", "hoodie",
];

/// Prompt-quality tags that are no scene ("4k, ultra detailed, masterpiece").
const QUALITY_WORDS: [&str; 14] = [
    "ultra",
    "detailed",
    "masterpiece",
    "cinematic",
    "realistic",
    "photorealistic",
    "hd",
    "hdr",
    "quality",
    "high",
    "best",
    "sharp",
    "lighting",
    "resolution",
];

const NUMBERS: [(&str, u32); 10] = [
    ("a", 1),
    ("an", 1),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("several", 2),
    ("many", 2),
];

/// (phrase, VBench relation).
const RELATIONS: [(&str, &str); 14] = [
    ("on the left of", "on the left of"),
    ("to the left of", "on the left of"),
    ("left of", "on the left of"),
    ("on the right of", "on the right of"),
    ("to the right of", "on the right of"),
    ("right of", "on the right of"),
    ("on the top of", "on the top of"),
    ("on top of", "on the top of"),
    ("above", "on the top of"),
    ("over", "on the top of"),
    ("on the bottom of", "on the bottom of"),
    ("at the bottom of", "on the bottom of"),
    ("below", "on the bottom of"),
    ("under", "on the bottom of"),
];

/// One object mentioned in the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMention {
    /// The name as a GRiT ObjectDet text would spell it (COCO name where one applies).
    pub name: String,
    pub count: u32,
    /// A colour word right before it, if any.
    pub color: Option<String>,
}

/// `spatial_relationship`'s auxiliary info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpatialInfo {
    pub object_a: String,
    pub object_b: String,
    pub relationship: String,
}

/// What the semantic dimensions check for one prompt (stored in the results).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PromptInfo {
    pub objects: Vec<ObjectMention>,
    pub color: Option<String>,
    pub spatial: Option<SpatialInfo>,
    pub scene: Option<String>,
    /// "rules" or "llm".
    #[serde(default)]
    pub source: String,
    /// Why the info is not what was asked for (e.g. the LLM reply was unusable and the rule
    /// parser was used instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PromptInfo {
    /// The info as stored in a per-video record (`prompt_info`).
    pub fn to_pyjson(&self) -> crate::pyjson::PyJson {
        use crate::pyjson::PyJson;
        let opt = |s: &Option<String>| s.clone().map_or(PyJson::Null, PyJson::Str);
        let mut items = vec![
            ("source", PyJson::Str(self.source.clone())),
            (
                "objects",
                PyJson::List(
                    self.objects
                        .iter()
                        .map(|o| {
                            PyJson::dict([
                                ("name", PyJson::Str(o.name.clone())),
                                ("count", PyJson::Int(o.count as i64)),
                                ("color", opt(&o.color)),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("color", opt(&self.color)),
            (
                "spatial",
                self.spatial.as_ref().map_or(PyJson::Null, |s| {
                    PyJson::dict([
                        ("object_a", PyJson::Str(s.object_a.clone())),
                        ("object_b", PyJson::Str(s.object_b.clone())),
                        ("relationship", PyJson::Str(s.relationship.clone())),
                    ])
                }),
            ),
            ("scene", opt(&self.scene)),
        ];
        if let Some(n) = &self.note {
            items.push(("note", PyJson::Str(n.clone())));
        }
        PyJson::dict(items)
    }

    /// `color`'s object in any-prompt mode: the object the colour word stands before, else the
    /// only object of the prompt.
    pub fn color_object(&self) -> Option<&str> {
        let c = self.color.as_deref()?;
        self.objects
            .iter()
            .find(|o| o.color.as_deref() == Some(c))
            .or(match self.objects.as_slice() {
                [o] => Some(o),
                _ => None,
            })
            .map(|o| o.name.as_str())
    }

    /// `object_class`: the single object, when the prompt has exactly one.
    pub fn object_class(&self) -> Option<&str> {
        match self.objects.as_slice() {
            [o] => Some(&o.name),
            _ => None,
        }
    }

    /// `multiple_objects`: "a and b" for the first two distinct objects.
    pub fn multiple_objects(&self) -> Option<String> {
        match self.objects.as_slice() {
            [a, b, ..] => Some(format!("{} and {}", a.name, b.name)),
            _ => None,
        }
    }

    /// Why `dim` cannot run on this prompt, or `None` when it can.
    pub fn skip_reason(&self, dim: &str) -> Option<String> {
        let missing = |what: &str| Some(format!("the prompt names no {what}"));
        match dim {
            "scene" if self.scene.is_none() => missing("scene"),
            "object_class" if self.object_class().is_none() => {
                Some("the prompt does not name exactly one object".into())
            }
            "multiple_objects" if self.multiple_objects().is_none() => {
                Some("the prompt names fewer than two objects".into())
            }
            "color" if self.color.is_none() => missing("colour"),
            "color" if self.color_object().is_none() => {
                Some("the prompt's colour belongs to no single detectable object".into())
            }
            "spatial_relationship" if self.spatial.is_none() => missing("spatial relation"),
            _ => None,
        }
    }

    /// Validates an LLM's JSON reply (`{"objects":[{"name","count","color"}], "color",
    /// "spatial":{"object_a","object_b","relationship"}, "scene"}`); `None` if malformed or
    /// inconsistent (unknown relation or colour, zero counts, empty names).
    pub fn from_llm_json(text: &str) -> Option<Self> {
        let start = text.find('{')?;
        let end = text.rfind('}')?;
        let mut info: PromptInfo = serde_json::from_str(text.get(start..=end)?).ok()?;
        let ok_color = |c: &Option<String>| c.as_deref().is_none_or(|c| COLORS.contains(&c));
        if info
            .objects
            .iter()
            .any(|o| o.name.trim().is_empty() || o.count == 0 || !ok_color(&o.color))
            || !ok_color(&info.color)
        {
            return None;
        }
        if let Some(s) = &info.spatial {
            if !RELATIONS.iter().any(|(_, r)| *r == s.relationship)
                || s.object_a.is_empty()
                || s.object_b.is_empty()
            {
                return None;
            }
        }
        if info.scene.as_deref().is_some_and(|s| s.trim().is_empty()) {
            info.scene = None;
        }
        info.source = "llm".into();
        Some(info)
    }
}

fn singular(w: &str) -> String {
    for (pl, sg) in [
        ("people", "people"),
        ("men", "man"),
        ("women", "woman"),
        ("children", "child"),
        ("knives", "knife"),
        ("skis", "skis"),
        ("scissors", "scissors"),
    ] {
        if w == pl {
            return sg.to_string();
        }
    }
    if let Some(s) = w.strip_suffix("ches").or_else(|| w.strip_suffix("shes")) {
        return format!("{s}{}", &w[s.len()..s.len() + 2]);
    }
    if let Some(s) = w.strip_suffix("ses") {
        return format!("{s}s");
    }
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

/// Longest known object (as words) starting at word `i`: (name, words consumed).
fn object_at(words: &[String], i: usize) -> Option<(String, usize)> {
    let mut best: Option<(String, usize)> = None;
    for n in (1..=3).rev() {
        if i + n > words.len() {
            continue;
        }
        let mut phrase: Vec<String> = words[i..i + n].to_vec();
        let last = phrase.len() - 1;
        phrase[last] = singular(&phrase[last]);
        let p = phrase.join(" ");
        if COCO.contains(&p.as_str()) {
            best = Some((p, n));
            break;
        }
        if let Some((_, coco)) = EXTRA_OBJECTS.iter().find(|(w, _)| *w == p) {
            best = Some((coco.map_or(p.clone(), str::to_string), n));
            break;
        }
    }
    best
}

fn words_of(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Rule-based parse of a free-form prompt.
pub fn parse_prompt(prompt: &str) -> PromptInfo {
    let lower = prompt.to_lowercase();
    // The main clause: style suffixes after a comma ("..., oil painting") are not content.
    let main = lower
        .split([',', ';'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let words = words_of(&main);
    let mut info = PromptInfo {
        source: "rules".into(),
        ..Default::default()
    };

    // Objects with counts and colours, in order, with their word positions.
    let mut i = 0;
    while i < words.len() {
        // "an orange cat": a colour word before an object is a colour, not the fruit
        if COLORS.contains(&words[i].as_str()) && object_at(&words, i + 1).is_some() {
            i += 1;
            continue;
        }
        if let Some((name, n)) = object_at(&words, i) {
            let color = i
                .checked_sub(1)
                .map(|j| words[j].as_str())
                .filter(|w| COLORS.contains(w))
                .map(str::to_string);
            let before = i.checked_sub(if color.is_some() { 2 } else { 1 });
            let count = before
                .and_then(|j| NUMBERS.iter().find(|(w, _)| *w == words[j]))
                .map(|(_, c)| *c)
                .unwrap_or_else(|| {
                    if words[i + n - 1] != singular(&words[i + n - 1]) {
                        2
                    } else {
                        1
                    }
                });
            if let Some(o) = info.objects.iter_mut().find(|o| o.name == name) {
                o.count += count;
            } else {
                info.objects.push(ObjectMention { name, count, color });
            }
            i += n;
        } else {
            i += 1;
        }
    }
    info.color = info
        .objects
        .iter()
        .find_map(|o| o.color.clone())
        .or_else(|| {
            // A colour word anywhere (e.g. "a car painted red").
            words.iter().find(|w| COLORS.contains(&w.as_str())).cloned()
        });

    // Spatial relation: the first relation phrase with an object on each side.
    let padded = format!(" {} ", words.join(" "));
    for (phrase, rel) in RELATIONS {
        if let Some(at) = padded.find(&format!(" {phrase} ")) {
            let before = words_of(&padded[..at]);
            let after_start = at + phrase.len() + 2;
            let after = words_of(padded.get(after_start..).unwrap_or(""));
            // the last object before the phrase, scanning forward so "teddy bear" beats "bear"
            let mut a = None;
            let mut k = 0;
            while k < before.len() {
                match object_at(&before, k) {
                    Some((name, n)) => {
                        a = Some(name);
                        k += n;
                    }
                    None => k += 1,
                }
            }
            let b = (0..after.len()).find_map(|k| object_at(&after, k).map(|o| o.0));
            if let (Some(object_a), Some(object_b)) = (a, b) {
                info.spatial = Some(SpatialInfo {
                    object_a,
                    object_b,
                    relationship: rel.to_string(),
                });
                break;
            }
        }
    }

    // Scene: a VBench scene string, or the noun phrase after "in/at/on (the|a)".
    let stripped: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect();
    let joined = stripped.join(" ");
    let known = VBENCH_SCENES
        .lines()
        .filter(|s| !s.is_empty())
        .filter(|s| format!(" {joined} ").contains(&format!(" {s} ")))
        .max_by_key(|s| s.len());
    info.scene = known.map(str::to_string).or_else(|| {
        let w = &words;
        (0..w.len()).find_map(|k| {
            if !matches!(w[k].as_str(), "in" | "at" | "on" | "inside") {
                return None;
            }
            // skip relations ("on the left of", "on top of") and objects after the preposition
            let rest: Vec<&str> = w[k + 1..]
                .iter()
                .map(String::as_str)
                .skip_while(|x| matches!(*x, "a" | "an" | "the"))
                .collect();
            let head: Vec<&str> = rest
                .iter()
                .copied()
                .take_while(|x| {
                    let stop = matches!(
                        *x,
                        "with" | "and" | "while" | "in" | "at" | "on" | "of" | "near"
                    );
                    let verb = x.len() > 4 && x.ends_with("ing");
                    !(stop || verb)
                })
                .take(3)
                .collect();
            let phrase = head.join(" ");
            // "a man in a red shirt": clothing, not a place
            let is_clothing = head
                .iter()
                .any(|w| CLOTHING.contains(&singular(w).as_str()));
            let is_object =
                object_at(&head.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 0).is_some();
            let is_relation = matches!(
                head.first().copied(),
                Some("left" | "right" | "top" | "bottom")
            );
            (!phrase.is_empty() && !is_object && !is_relation && !is_clothing).then_some(phrase)
        })
    });
    // A bare short noun phrase is a scene (VBench's scene prompts are "alley", "amusement park").
    let is_quality_tag =
        |w: &&str| !w.chars().all(char::is_alphabetic) || QUALITY_WORDS.contains(w);
    if info.scene.is_none()
        && info.objects.is_empty()
        && (1..=3).contains(&stripped.len())
        && !stripped.iter().any(is_quality_tag)
    {
        info.scene = Some(joined.clone());
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, count: u32, color: Option<&str>) -> ObjectMention {
        ObjectMention {
            name: name.into(),
            count,
            color: color.map(str::to_string),
        }
    }

    #[test]
    fn table() {
        let p = parse_prompt("a red car to the left of a dog");
        assert_eq!(
            p.objects,
            vec![obj("car", 1, Some("red")), obj("dog", 1, None)]
        );
        assert_eq!(p.color.as_deref(), Some("red"));
        assert_eq!(
            p.spatial,
            Some(SpatialInfo {
                object_a: "car".into(),
                object_b: "dog".into(),
                relationship: "on the left of".into()
            })
        );
        assert_eq!(p.scene, None);
        assert!(p.skip_reason("scene").is_some());

        let p = parse_prompt("two cats and a bicycle at a beach");
        assert_eq!(
            p.objects,
            vec![obj("cat", 2, None), obj("bicycle", 1, None)]
        );
        assert_eq!(p.multiple_objects().as_deref(), Some("cat and bicycle"));
        assert_eq!(p.scene.as_deref(), Some("beach"));
        assert_eq!(p.spatial, None);

        let p = parse_prompt("an astronaut riding a horse on mars, oil painting");
        assert_eq!(
            p.objects,
            vec![obj("person", 1, None), obj("horse", 1, None)]
        );
        assert_eq!(p.scene.as_deref(), Some("mars"));
        assert_eq!(p.color, None);
        assert!(p.skip_reason("color").is_some());
    }

    /// Prompts of VBench's suite with their `auxiliary_info` (VBench_full_info.json).
    #[test]
    fn vbench_suite_prompts() {
        for (prompt, want) in [
            ("a person", "person"),
            ("a bicycle", "bicycle"),
            ("a cell phone", "cell phone"),
            ("a hair drier", "hair drier"),
            ("a tv", "tv"),
        ] {
            assert_eq!(parse_prompt(prompt).object_class(), Some(want), "{prompt}");
        }
        for (prompt, want) in [
            ("a bird and a cat", "bird and cat"),
            ("a cat and a dog", "cat and dog"),
            (
                "a baseball bat and a baseball glove",
                "baseball bat and baseball glove",
            ),
        ] {
            assert_eq!(
                parse_prompt(prompt).multiple_objects().as_deref(),
                Some(want),
                "{prompt}"
            );
        }
        for (prompt, want) in [
            ("a red bicycle", "red"),
            ("a green bicycle", "green"),
            ("a white vase", "white"),
        ] {
            assert_eq!(
                parse_prompt(prompt).color.as_deref(),
                Some(want),
                "{prompt}"
            );
        }
        for (prompt, a, b, rel) in [
            (
                "a bicycle on the left of a car, front view",
                "bicycle",
                "car",
                "on the left of",
            ),
            (
                "a car on the right of a motorcycle, front view",
                "car",
                "motorcycle",
                "on the right of",
            ),
            (
                "a motorcycle on the left of a bus, front view",
                "motorcycle",
                "bus",
                "on the left of",
            ),
            (
                "a clock on the top of a bed, front view",
                "clock",
                "bed",
                "on the top of",
            ),
        ] {
            let s = parse_prompt(prompt)
                .spatial
                .unwrap_or_else(|| panic!("{prompt}"));
            assert_eq!(
                (
                    s.object_a.as_str(),
                    s.object_b.as_str(),
                    s.relationship.as_str()
                ),
                (a, b, rel)
            );
        }
        for s in VBENCH_SCENES.lines().filter(|s| !s.is_empty()) {
            assert_eq!(
                parse_prompt(s).scene.as_deref(),
                Some(s),
                "scene prompt {s}"
            );
        }
    }

    #[test]
    fn more_prompts() {
        let p = parse_prompt("three dogs playing in the park");
        assert_eq!(p.objects, vec![obj("dog", 3, None)]);
        assert_eq!(p.scene.as_deref(), Some("park"));
        let p = parse_prompt("a blue umbrella under a tree");
        assert_eq!(p.color.as_deref(), Some("blue"));
        assert_eq!(p.spatial, None); // tree is not a detectable object
        let p = parse_prompt("a cup above a laptop in the kitchen");
        assert_eq!(
            p.spatial.as_ref().map(|s| s.relationship.as_str()),
            Some("on the top of")
        );
        assert_eq!(p.scene.as_deref(), Some("kitchen"));
        let p = parse_prompt("a woman walking a dog in a snowy forest");
        assert_eq!(p.objects, vec![obj("person", 1, None), obj("dog", 1, None)]);
        assert_eq!(p.scene.as_deref(), Some("snowy forest"));
        let p = parse_prompt("a teddy bear on top of a bed");
        assert_eq!(
            p.spatial
                .as_ref()
                .map(|s| (s.object_a.as_str(), s.object_b.as_str())),
            Some(("teddy bear", "bed"))
        );
        let p = parse_prompt("sunset over the ocean");
        assert!(p.objects.is_empty());
        assert_eq!(
            parse_prompt("foggy pier").scene.as_deref(),
            Some("foggy pier")
        );
        // a VBench scene string inside the phrase wins
        assert_eq!(
            parse_prompt("snowy mountain pass").scene.as_deref(),
            Some("mountain")
        );
        let p = parse_prompt("");
        assert!(p.objects.is_empty() && p.scene.is_none());
    }

    /// Ten more prompts, some with nothing usable, checked against what each dimension reads.
    #[test]
    fn more_table() {
        // (prompt, object_class, multiple_objects, color (colour, object), spatial (a, b, rel), scene)
        type Row<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<(&'a str, &'a str)>,
            Option<(&'a str, &'a str, &'a str)>,
            Option<&'a str>,
        );
        let rows: [Row; 12] = [
            (
                "a cat sitting to the right of a laptop",
                None,
                Some("cat and laptop"),
                None,
                Some(("cat", "laptop", "on the right of")),
                None,
            ),
            (
                "a blue bicycle and a white dog in the park",
                None,
                Some("bicycle and dog"),
                Some(("blue", "bicycle")),
                None,
                Some("park"),
            ),
            (
                "two people walking their dogs on a snowy mountain",
                None,
                Some("person and dog"),
                None,
                None,
                Some("mountain"),
            ),
            (
                "A Pink Umbrella above a Bench, watercolor painting",
                None,
                Some("umbrella and bench"),
                Some(("pink", "umbrella")),
                Some(("umbrella", "bench", "on the top of")),
                None,
            ),
            (
                "an elephant and a giraffe and a zebra at the zoo",
                None,
                Some("elephant and giraffe"),
                None,
                None,
                Some("zoo"),
            ),
            (
                "a cup on the left of a laptop on a desk",
                None,
                Some("cup and laptop"),
                None,
                Some(("cup", "laptop", "on the left of")),
                Some("desk"),
            ),
            (
                "a teddy bear below a clock",
                None,
                Some("teddy bear and clock"),
                None,
                Some(("teddy bear", "clock", "on the bottom of")),
                None,
            ),
            (
                "close-up of an orange cat",
                Some("cat"),
                None,
                Some(("orange", "cat")),
                None,
                None,
            ),
            // the colour is the shirt's, and a shirt is no place
            (
                "a man in a red shirt holding a cell phone",
                None,
                Some("person and cell phone"),
                None,
                None,
                None,
            ),
            // nothing usable
            (
                "the camera slowly pans across while everything glows softly",
                None,
                None,
                None,
                None,
                None,
            ),
            (
                "4k, ultra detailed, masterpiece",
                None,
                None,
                None,
                None,
                None,
            ),
            ("   ", None, None, None, None, None),
        ];
        for (p, oc, mo, col, sp, scene) in rows {
            let info = parse_prompt(p);
            assert_eq!(info.object_class(), oc, "{p}: {info:?}");
            assert_eq!(info.multiple_objects().as_deref(), mo, "{p}: {info:?}");
            let c = info
                .color
                .as_deref()
                .zip(info.color_object())
                .filter(|_| info.skip_reason("color").is_none());
            assert_eq!(c, col, "{p}: {info:?}");
            let s = info.spatial.as_ref().map(|s| {
                (
                    s.object_a.as_str(),
                    s.object_b.as_str(),
                    s.relationship.as_str(),
                )
            });
            assert_eq!(s, sp, "{p}: {info:?}");
            assert_eq!(info.scene.as_deref(), scene, "{p}: {info:?}");
            for (dim, usable) in [
                ("object_class", oc.is_some()),
                ("multiple_objects", mo.is_some()),
                ("color", col.is_some()),
                ("spatial_relationship", sp.is_some()),
                ("scene", scene.is_some()),
            ] {
                assert_eq!(info.skip_reason(dim).is_none(), usable, "{p} {dim}");
            }
        }
    }

    #[test]
    fn llm_reply_is_validated() {
        let ok = r#"Sure: {"objects":[{"name":"car","count":1,"color":"red"}],"color":"red","spatial":null,"scene":"street","source":""}"#;
        let p = PromptInfo::from_llm_json(ok).unwrap();
        assert_eq!(p.scene.as_deref(), Some("street"));
        assert_eq!(p.source, "llm");
        assert!(PromptInfo::from_llm_json("no json").is_none());
        let bad = r#"{"objects":[],"color":"magenta","spatial":null,"scene":null,"source":""}"#;
        assert!(PromptInfo::from_llm_json(bad).is_none());
    }
}
