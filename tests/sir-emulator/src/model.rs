//! The botocore service model of `security-ir` 2018-05-10, read at start-up: operations with their
//! HTTP binding (method, `requestUri`, success code), shapes with their constraints (required,
//! enum, length/size/range, pattern) and member locations (label, query, header, body).
//!
//! Patterns are compiled with the `regex` crate and matched against the whole value (anchored),
//! as the service's documented behaviour for e.g. `fileName` implies; every pattern of the 2018-05-10
//! model compiles, so none is skipped (a pattern that failed to compile would be skipped and
//! listed by [`ServiceModel::skipped_patterns`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value;

use crate::error::Error;

/// Where a request member travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Body,
    Label(String),
    Query(String),
    Header(String),
}

/// One member of a structure.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub name: String,
    pub shape: String,
    pub location: Location,
}

/// What kind of value a shape describes.
#[derive(Debug, Clone)]
pub(crate) enum ShapeKind {
    Structure {
        members: Vec<Member>,
        required: Vec<String>,
    },
    List {
        member: String,
    },
    Map {
        key: String,
        value: String,
    },
    String {
        allowed: Option<Vec<String>>,
    },
    Integer,
    Long,
    Float,
    Boolean,
    Timestamp,
    Blob,
}

/// A compiled `pattern` constraint and its text as the model writes it.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub regex: Regex,
    pub source: String,
}

/// A shape and its constraints.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub kind: ShapeKind,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<Pattern>,
    pub sensitive: bool,
    /// HTTP status of an error shape.
    pub error_status: Option<u16>,
}

/// One literal or label segment of a `requestUri` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    Label(String),
    GreedyLabel(String),
}

/// An operation and its HTTP binding.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub name: String,
    pub method: String,
    pub segments: Vec<Segment>,
    pub input: Option<String>,
    pub success_status: u16,
}

impl Operation {
    /// The labels of `path` if this operation's URI template matches it. `path` segments are
    /// still percent-encoded.
    pub fn match_path(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut labels = BTreeMap::new();
        let mut index = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    if parts.get(index) != Some(&literal.as_str()) {
                        return None;
                    }
                }
                Segment::Label(name) => {
                    let part = parts.get(index).filter(|part| !part.is_empty())?;
                    labels.insert(name.clone(), percent_decode(part)?);
                }
                Segment::GreedyLabel(name) => {
                    let rest = parts.get(index..).filter(|rest| !rest.is_empty())?;
                    let decoded = rest
                        .iter()
                        .map(|part| percent_decode(part))
                        .collect::<Option<Vec<_>>>()?;
                    labels.insert(name.clone(), decoded.join("/"));
                    return Some(labels);
                }
            }
            index += 1;
        }
        (index == parts.len()).then_some(labels)
    }

    fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|segment| matches!(segment, Segment::Literal(_)))
            .count()
    }
}

/// The parsed model.
#[derive(Debug)]
pub(crate) struct ServiceModel {
    pub operations: BTreeMap<String, Operation>,
    pub shapes: BTreeMap<String, Shape>,
    skipped_patterns: Vec<(String, String)>,
}

const MODEL_DIR: &str = "site-packages/botocore/data/security-ir/2018-05-10";

impl ServiceModel {
    /// Reads the model from `path` (gzipped when it ends in `.gz`) or, without a path, from the
    /// workspace's `.venv`.
    pub fn load(path: Option<&Path>) -> Result<ServiceModel, Error> {
        let path = match path {
            Some(path) => path.to_path_buf(),
            None => find_model()?,
        };
        let text = read_model(&path)?;
        let json: Value = serde_json::from_str(&text).map_err(|e| Error::ModelInvalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        ServiceModel::parse(&json).map_err(|reason| Error::ModelInvalid { path, reason })
    }

    fn parse(json: &Value) -> Result<ServiceModel, String> {
        let mut skipped_patterns = Vec::new();
        let mut shapes = BTreeMap::new();
        let shape_defs = json
            .get("shapes")
            .and_then(Value::as_object)
            .ok_or("no shapes")?;
        for (name, def) in shape_defs {
            let shape = parse_shape(name, def, &mut skipped_patterns)?;
            shapes.insert(name.clone(), shape);
        }
        let mut operations = BTreeMap::new();
        let op_defs = json
            .get("operations")
            .and_then(Value::as_object)
            .ok_or("no operations")?;
        for (name, def) in op_defs {
            let http = def.get("http").ok_or(format!("{name} has no http"))?;
            let method = http
                .get("method")
                .and_then(Value::as_str)
                .ok_or(format!("{name} has no method"))?
                .to_owned();
            let uri = http
                .get("requestUri")
                .and_then(Value::as_str)
                .ok_or(format!("{name} has no requestUri"))?;
            let path = uri.split('?').next().unwrap_or(uri);
            let segments = path
                .trim_start_matches('/')
                .split('/')
                .map(|part| {
                    if let Some(label) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        match label.strip_suffix('+') {
                            Some(greedy) => Segment::GreedyLabel(greedy.to_owned()),
                            None => Segment::Label(label.to_owned()),
                        }
                    } else {
                        Segment::Literal(part.to_owned())
                    }
                })
                .collect();
            let shape_of = |key: &str| {
                def.get(key)
                    .and_then(|v| v.get("shape"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let success_status = http
                .get("responseCode")
                .and_then(Value::as_u64)
                .and_then(|code| u16::try_from(code).ok())
                .unwrap_or(200);
            operations.insert(
                name.clone(),
                Operation {
                    name: name.clone(),
                    method,
                    segments,
                    input: shape_of("input"),
                    success_status,
                },
            );
        }
        Ok(ServiceModel {
            operations,
            shapes,
            skipped_patterns,
        })
    }

    /// The operation bound to `method` and `path`, with its labels; the template with the most
    /// literal segments wins when several match.
    pub fn route(
        &self,
        method: &str,
        path: &str,
    ) -> Option<(&Operation, BTreeMap<String, String>)> {
        self.operations
            .values()
            .filter(|op| op.method.eq_ignore_ascii_case(method))
            .filter_map(|op| op.match_path(path).map(|labels| (op, labels)))
            .max_by_key(|(op, _)| op.literal_count())
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// The HTTP status the model gives an error shape.
    pub fn error_status(&self, code: &str) -> Option<u16> {
        self.shapes.get(code).and_then(|shape| shape.error_status)
    }

    /// `(shape, pattern)` pairs whose pattern `regex` cannot compile; they are not enforced.
    pub fn skipped_patterns(&self) -> &[(String, String)] {
        &self.skipped_patterns
    }
}

fn parse_shape(
    name: &str,
    def: &Value,
    skipped_patterns: &mut Vec<(String, String)>,
) -> Result<Shape, String> {
    let type_name = def
        .get("type")
        .and_then(Value::as_str)
        .ok_or(format!("shape {name} has no type"))?;
    let shape_ref = |key: &str| {
        def.get(key)
            .and_then(|v| v.get("shape"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(format!("shape {name} has no {key}"))
    };
    let kind = match type_name {
        "structure" => {
            let mut members = Vec::new();
            if let Some(defs) = def.get("members").and_then(Value::as_object) {
                for (member_name, member) in defs {
                    let shape = member
                        .get("shape")
                        .and_then(Value::as_str)
                        .ok_or(format!("{name}.{member_name} has no shape"))?
                        .to_owned();
                    let location_name = member
                        .get("locationName")
                        .and_then(Value::as_str)
                        .unwrap_or(member_name)
                        .to_owned();
                    let location = match member.get("location").and_then(Value::as_str) {
                        Some("uri") => Location::Label(location_name),
                        Some("querystring") => Location::Query(location_name),
                        Some("header") => Location::Header(location_name),
                        _ => Location::Body,
                    };
                    members.push(Member {
                        name: member_name.clone(),
                        shape,
                        location,
                    });
                }
            }
            let required = def
                .get("required")
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            ShapeKind::Structure { members, required }
        }
        "list" => ShapeKind::List {
            member: shape_ref("member")?,
        },
        "map" => ShapeKind::Map {
            key: shape_ref("key")?,
            value: shape_ref("value")?,
        },
        "string" => ShapeKind::String {
            allowed: def.get("enum").and_then(Value::as_array).map(|values| {
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            }),
        },
        "integer" => ShapeKind::Integer,
        "long" => ShapeKind::Long,
        "float" | "double" => ShapeKind::Float,
        "boolean" => ShapeKind::Boolean,
        "timestamp" => ShapeKind::Timestamp,
        "blob" => ShapeKind::Blob,
        other => return Err(format!("shape {name} has unknown type {other}")),
    };
    let pattern = match def.get("pattern").and_then(Value::as_str) {
        Some(source) => match Regex::new(&format!("^(?:{source})$")) {
            Ok(regex) => Some(Pattern {
                regex,
                source: source.to_owned(),
            }),
            Err(_) => {
                skipped_patterns.push((name.to_owned(), source.to_owned()));
                None
            }
        },
        None => None,
    };
    Ok(Shape {
        kind,
        min: def.get("min").and_then(Value::as_f64),
        max: def.get("max").and_then(Value::as_f64),
        pattern,
        sensitive: def.get("sensitive").and_then(Value::as_bool) == Some(true),
        error_status: def
            .get("error")
            .and_then(|error| error.get("httpStatusCode"))
            .and_then(Value::as_u64)
            .and_then(|code| u16::try_from(code).ok()),
    })
}

fn read_model(path: &Path) -> Result<String, Error> {
    let read_error = |source| Error::ModelRead {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(read_error)?;
    if path.extension().is_some_and(|ext| ext == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .map_err(read_error)?;
        Ok(text)
    } else {
        String::from_utf8(bytes).map_err(|e| Error::ModelInvalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// `<workspace>/.venv/lib/python*/site-packages/botocore/data/security-ir/2018-05-10/service-2.json[.gz]`.
fn find_model() -> Result<PathBuf, Error> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let lib = workspace.join(".venv").join("lib");
    let mut candidates = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&lib) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python") {
                let dir = entry.path().join(MODEL_DIR);
                candidates.push(dir.join("service-2.json.gz"));
                candidates.push(dir.join("service-2.json"));
            }
        }
    }
    candidates.sort();
    candidates
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| Error::ModelNotFound {
            searched: format!("{}/python*/{MODEL_DIR}", lib.display()),
        })
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ServiceModel {
        ServiceModel::load(None).expect("the model under .venv")
    }

    #[test]
    fn every_model_pattern_compiles_so_none_is_skipped() {
        assert_eq!(model().skipped_patterns(), &[] as &[(String, String)]);
    }

    #[test]
    fn routes_by_method_and_uri_template() {
        let model = model();
        let (op, labels) = model
            .route("GET", "/v1/cases/1234567890/get-presigned-url/abc")
            .expect("route");
        assert_eq!(op.name, "GetCaseAttachmentDownloadUrl");
        assert_eq!(labels["attachmentId"], "abc");
        let (op, _) = model
            .route("PUT", "/v1/membership/m-123456789012")
            .expect("route");
        assert_eq!(op.name, "CancelMembership");
        let (op, labels) = model
            .route(
                "GET",
                "/v1/tags/arn%3Aaws%3Asecurity-ir%3Aus-east-1%3A1%3Acase%2F1",
            )
            .expect("route");
        assert_eq!(op.name, "ListTagsForResource");
        assert_eq!(
            labels["resourceArn"],
            "arn:aws:security-ir:us-east-1:1:case/1"
        );
        assert!(model.route("DELETE", "/v1/cases/1/get-case").is_none());
    }

    #[test]
    fn error_statuses_come_from_the_model() {
        let model = model();
        assert_eq!(model.error_status("ThrottlingException"), Some(429));
        assert_eq!(
            model.error_status("ServiceQuotaExceededException"),
            Some(402)
        );
        assert_eq!(model.error_status("InvalidTokenException"), Some(423));
    }
}
