//! The Jira Cloud scopes the integration's API token needs, for an API token with scopes (and
//! Atlassian service accounts, which have only those). Derived from the calls [`super::JiraClient`]
//! makes: each operation it names in its errors and logs, with the classic scope Atlassian's REST
//! reference lists for it. Classic rather than granular: Atlassian recommends them, and the
//! granular sets are many per call and all required. The README lists [`CLASSIC_SCOPES`]; a test
//! checks both against the operations in the client's code.

/// Every scope the integration needs, sorted: what to tick when creating its token.
pub const CLASSIC_SCOPES: [&str; 3] = ["read:jira-user", "read:jira-work", "write:jira-work"];

/// Each operation the client sends, and the classic scope it needs.
pub const OPERATION_SCOPES: &[(&str, &str)] = &[
    ("GET myself", "read:jira-user"),
    ("GET user", "read:jira-user"),
    ("search users", "read:jira-user"),
    ("GET issue", "read:jira-work"),
    ("GET issue fields", "read:jira-work"),
    ("GET fields", "read:jira-work"),
    ("GET transitions", "read:jira-work"),
    ("GET comments", "read:jira-work"),
    ("GET comment", "read:jira-work"),
    ("GET watchers", "read:jira-work"),
    ("GET issue property", "read:jira-work"),
    ("download attachment", "read:jira-work"),
    ("search issues", "read:jira-work"),
    ("search updated issues", "read:jira-work"),
    ("search open issues", "read:jira-work"),
    ("match the case filter", "read:jira-work"),
    ("create issue", "write:jira-work"),
    ("edit issue", "write:jira-work"),
    ("transition issue", "write:jira-work"),
    ("add comment", "write:jira-work"),
    ("update comment", "write:jira-work"),
    ("add watcher", "write:jira-work"),
    ("remove watcher", "write:jira-work"),
    ("upload attachment", "write:jira-work"),
    ("add label", "write:jira-work"),
    ("remove label", "write:jira-work"),
    ("set issue property", "write:jira-work"),
];

/// The classic scope `operation` needs, if it is one of the client's.
pub fn scope_of(operation: &str) -> Option<&'static str> {
    OPERATION_SCOPES
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(_, scope)| *scope)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Names given to what is not a request.
    const NOT_REQUESTS: [&str; 1] = ["client set-up"];

    /// The operation names in the client's source: the string literal that opens a call to one of
    /// the functions that send a request, or a search's `operation:`.
    fn operations_in(source: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for marker in [
            "send(",
            "send_with(",
            "get_json(",
            "get_json::<",
            "read_json(",
            "operation: ",
        ] {
            for (at, _) in source.match_indices(marker) {
                let mut rest = &source[at + marker.len()..];
                if marker == "get_json::<" {
                    // `get_json::<Type>("…"`
                    let Some(open) = rest.find(">(") else {
                        continue;
                    };
                    rest = &rest[open + 2..];
                }
                let rest = rest.trim_start();
                if let Some(literal) = rest.strip_prefix('"')
                    && let Some(end) = literal.find('"')
                    && !NOT_REQUESTS.contains(&&literal[..end])
                {
                    found.insert(literal[..end].to_owned());
                }
            }
        }
        found
    }

    #[test]
    fn every_operation_in_the_client_has_its_scope_and_only_those() {
        let in_code = operations_in(include_str!("../jira.rs"));
        let listed: BTreeSet<String> = OPERATION_SCOPES
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect();
        assert_eq!(
            in_code, listed,
            "the operations the client sends are the ones listed"
        );
        let needed: BTreeSet<&str> = OPERATION_SCOPES.iter().map(|(_, scope)| *scope).collect();
        assert_eq!(needed, CLASSIC_SCOPES.into_iter().collect::<BTreeSet<_>>());
    }

    #[test]
    fn the_readme_lists_exactly_the_scopes_needed() {
        let readme = include_str!("../../../README.md");
        let marker = "<!-- jira-token-scopes -->";
        let after = readme
            .split_once(marker)
            .map(|(_, after)| after)
            .expect("the README marks its list of scopes");
        let line = after.trim_start().lines().next().unwrap_or_default();
        let listed: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
        assert_eq!(listed, CLASSIC_SCOPES, "{line}");
    }
}
