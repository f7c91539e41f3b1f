//! The part of JQL `/search/jql` accepts here: clauses combined with `AND`, `OR`, `NOT` and
//! parentheses (`NOT` binds tightest, then `AND`, then `OR`, as in Jira), and an `ORDER BY` (see
//! the crate documentation for the list). Everything else is a 400 that says so, rather than a
//! silently different result.

use std::cmp::Ordering;

use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::Error;
use crate::model::IssueRecord;
use crate::store::Store;
use crate::workflow::StatusCategory;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Operator(&'static str),
    Open,
    Close,
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Project,
    Key,
    Status,
    StatusCategory,
    IssueType,
    Reporter,
    Creator,
    Labels,
    Summary,
    Created,
    Updated,
}

impl Field {
    fn named(name: &str) -> Option<Field> {
        Some(match name.to_lowercase().as_str() {
            "project" => Field::Project,
            "key" | "issuekey" | "id" => Field::Key,
            "status" => Field::Status,
            "statuscategory" => Field::StatusCategory,
            "issuetype" | "type" => Field::IssueType,
            "reporter" => Field::Reporter,
            "creator" => Field::Creator,
            "labels" => Field::Labels,
            "summary" => Field::Summary,
            "created" | "createddate" => Field::Created,
            "updated" | "updateddate" => Field::Updated,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Field::Project => "project",
            Field::Key => "key",
            Field::Status => "status",
            Field::StatusCategory => "statusCategory",
            Field::IssueType => "issuetype",
            Field::Reporter => "reporter",
            Field::Creator => "creator",
            Field::Labels => "labels",
            Field::Summary => "summary",
            Field::Created => "created",
            Field::Updated => "updated",
        }
    }

    fn allows(self, operator: Operator) -> bool {
        use Operator::*;
        match self {
            Field::Project
            | Field::Status
            | Field::StatusCategory
            | Field::IssueType
            | Field::Reporter
            | Field::Creator => matches!(operator, Equals | NotEquals | In | NotIn),
            Field::Key => matches!(
                operator,
                Equals | NotEquals | In | NotIn | Greater | GreaterOrEqual | Less | LessOrEqual
            ),
            Field::Labels => matches!(
                operator,
                Equals | NotEquals | In | NotIn | IsEmpty | IsNotEmpty
            ),
            Field::Summary => matches!(operator, Contains | NotContains),
            Field::Created | Field::Updated => matches!(
                operator,
                Equals | NotEquals | Greater | GreaterOrEqual | Less | LessOrEqual
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Contains,
    NotContains,
    IsEmpty,
    IsNotEmpty,
}

impl Operator {
    fn text(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "not in",
            Operator::Greater => ">",
            Operator::GreaterOrEqual => ">=",
            Operator::Less => "<",
            Operator::LessOrEqual => "<=",
            Operator::Contains => "~",
            Operator::NotContains => "!~",
            Operator::IsEmpty => "is empty",
            Operator::IsNotEmpty => "is not empty",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Text(String),
    Function(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    field: Field,
    operator: Operator,
    operands: Vec<Operand>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortField {
    Key,
    Created,
    Updated,
    Status,
    Summary,
}

/// A condition: a clause, or clauses combined.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Clause(Clause),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    filter: Option<Expr>,
    order: Vec<(SortField, bool)>,
}

/// An [`Expr`] with its clauses resolved.
#[derive(Debug)]
enum Check {
    Test(Test),
    And(Vec<Check>),
    Or(Vec<Check>),
    Not(Box<Check>),
}

/// What a query is evaluated against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub now: OffsetDateTime,
    pub caller: &'a str,
    pub store: &'a Store,
    /// How far the search index lags the writes: an issue is matched (and ordered) by its
    /// version as of `now - lag`, and not found if it is younger.
    pub lag: std::time::Duration,
    /// Issue ids read consistently, whatever the lag (`reconcileIssues`).
    pub reconcile: &'a [String],
}

/// A clause with its operands resolved and checked.
#[derive(Debug)]
enum Test {
    OneOf {
        field: Field,
        values: Vec<String>,
        negated: bool,
    },
    HasLabel {
        labels: Vec<String>,
        negated: bool,
    },
    NoLabels {
        negated: bool,
    },
    SummaryContains {
        text: String,
        negated: bool,
    },
    Date {
        field: Field,
        operator: Operator,
        at: OffsetDateTime,
    },
    /// `key > SEC-12` and the like: issues of SEC whose number compares so with 12.
    KeyRange {
        operator: Operator,
        project: String,
        number: u64,
    },
}

fn syntax_error(detail: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Error in the JQL Query: {detail}"))
}

fn tokens(jql: &str) -> Result<Vec<Token>, Error> {
    let mut tokens = Vec::new();
    let mut chars = jql.chars().peekable();
    while let Some(&next) = chars.peek() {
        match next {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                tokens.push(match next {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '"' | '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => text.extend(chars.next()),
                        Some(c) if c == next => break,
                        Some(c) => text.push(c),
                        None => return Err(syntax_error("the quoted string is not terminated.")),
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            '=' | '!' | '<' | '>' | '~' => {
                chars.next();
                let followed_by = chars.peek().copied();
                let operator = match (next, followed_by) {
                    ('!', Some('=')) => "!=",
                    ('!', Some('~')) => "!~",
                    ('<', Some('=')) => "<=",
                    ('>', Some('=')) => ">=",
                    ('=', _) => "=",
                    ('<', _) => "<",
                    ('>', _) => ">",
                    ('~', _) => "~",
                    _ => return Err(syntax_error("'!' must be followed by '=' or '~'.")),
                };
                if operator.len() == 2 {
                    chars.next();
                }
                tokens.push(Token::Operator(operator));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "(),\"'=!<>~".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), Error> {
        if self.peek_keyword(keyword) {
            self.at += 1;
            Ok(())
        } else {
            Err(syntax_error(format!(
                "expecting '{keyword}' but got {}.",
                describe(self.peek())
            )))
        }
    }

    fn or_expr(&mut self) -> Result<Expr, Error> {
        let mut items = vec![self.and_expr()?];
        while self.peek_keyword("or") {
            self.at += 1;
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, Error> {
        let mut items = vec![self.unary()?];
        while self.peek_keyword("and") {
            self.at += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        if self.peek_keyword("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or_expr()?;
            if self.next() != Some(Token::Close) {
                return Err(syntax_error("expecting ')' to close '('."));
            }
            return Ok(inner);
        }
        Ok(Expr::Clause(self.clause()?))
    }

    fn query(&mut self) -> Result<Query, Error> {
        let filter = if self.peek().is_some() && !self.peek_keyword("order") {
            Some(self.or_expr()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.peek_keyword("order") {
            self.at += 1;
            self.expect_keyword("by")?;
            loop {
                let name = match self.next() {
                    Some(Token::Word(name) | Token::Quoted(name)) => name,
                    other => {
                        return Err(syntax_error(format!(
                            "expecting a field name but got {}.",
                            describe(other.as_ref())
                        )));
                    }
                };
                let field = match Field::named(&name) {
                    Some(Field::Key) => SortField::Key,
                    Some(Field::Created) => SortField::Created,
                    Some(Field::Updated) => SortField::Updated,
                    Some(Field::Status) => SortField::Status,
                    Some(Field::Summary) => SortField::Summary,
                    _ => {
                        return Err(Error::bad_request(format!(
                            "Not able to sort using field '{name}'."
                        )));
                    }
                };
                let mut descending = false;
                if self.peek_keyword("desc") {
                    self.at += 1;
                    descending = true;
                } else if self.peek_keyword("asc") {
                    self.at += 1;
                }
                order.push((field, descending));
                if self.peek() == Some(&Token::Comma) {
                    self.at += 1;
                } else {
                    break;
                }
            }
        }
        match self.peek() {
            None => Ok(Query { filter, order }),
            other => Err(syntax_error(format!(
                "expecting 'AND', 'OR' or 'ORDER BY' but got {}.",
                describe(other)
            ))),
        }
    }

    fn clause(&mut self) -> Result<Clause, Error> {
        let name = match self.next() {
            Some(Token::Word(name) | Token::Quoted(name)) => name,
            other => {
                return Err(syntax_error(format!(
                    "expecting a field name but got {}.",
                    describe(other.as_ref())
                )));
            }
        };
        let field = Field::named(&name).ok_or_else(|| {
            Error::bad_request(format!(
                "Field '{name}' does not exist or you do not have permission to view it."
            ))
        })?;
        let operator = self.operator()?;
        if !field.allows(operator) {
            return Err(Error::bad_request(format!(
                "The operator '{}' is not supported by the '{}' field.",
                operator.text(),
                field.name()
            )));
        }
        let operands = match operator {
            Operator::IsEmpty | Operator::IsNotEmpty => Vec::new(),
            Operator::In | Operator::NotIn => self.list()?,
            _ => vec![self.operand()?],
        };
        Ok(Clause {
            field,
            operator,
            operands,
        })
    }

    fn operator(&mut self) -> Result<Operator, Error> {
        let operator = match self.next() {
            Some(Token::Operator(symbol)) => match symbol {
                "=" => Operator::Equals,
                "!=" => Operator::NotEquals,
                ">" => Operator::Greater,
                ">=" => Operator::GreaterOrEqual,
                "<" => Operator::Less,
                "<=" => Operator::LessOrEqual,
                "~" => Operator::Contains,
                _ => Operator::NotContains,
            },
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("in") => Operator::In,
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("not") => {
                self.expect_keyword("in")?;
                Operator::NotIn
            }
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("is") => {
                let negated = self.peek_keyword("not");
                if negated {
                    self.at += 1;
                }
                if self.peek_keyword("empty") || self.peek_keyword("null") {
                    self.at += 1;
                } else {
                    return Err(syntax_error(format!(
                        "expecting 'EMPTY' but got {}.",
                        describe(self.peek())
                    )));
                }
                if negated {
                    Operator::IsNotEmpty
                } else {
                    Operator::IsEmpty
                }
            }
            other => {
                return Err(syntax_error(format!(
                    "expecting an operator but got {}.",
                    describe(other.as_ref())
                )));
            }
        };
        Ok(operator)
    }

    fn list(&mut self) -> Result<Vec<Operand>, Error> {
        if self.next() != Some(Token::Open) {
            return Err(syntax_error("expecting '(' after 'in'."));
        }
        let mut operands = vec![self.operand()?];
        loop {
            match self.next() {
                Some(Token::Comma) => operands.push(self.operand()?),
                Some(Token::Close) => return Ok(operands),
                other => {
                    return Err(syntax_error(format!(
                        "expecting ',' or ')' but got {}.",
                        describe(other.as_ref())
                    )));
                }
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, Error> {
        match self.next() {
            Some(Token::Quoted(text)) => Ok(Operand::Text(text)),
            Some(Token::Word(word)) => {
                if self.peek() == Some(&Token::Open) {
                    self.at += 1;
                    if self.next() != Some(Token::Close) {
                        return Err(unsupported_by_emulator("function arguments"));
                    }
                    Ok(Operand::Function(word))
                } else {
                    Ok(Operand::Text(word))
                }
            }
            other => Err(syntax_error(format!(
                "expecting a value but got {}.",
                describe(other.as_ref())
            ))),
        }
    }
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "the end of the query".into(),
        Some(Token::Word(word)) => format!("'{word}'"),
        Some(Token::Quoted(text)) => format!("'\"{text}\"'"),
        Some(Token::Operator(operator)) => format!("'{operator}'"),
        Some(Token::Open) => "'('".into(),
        Some(Token::Close) => "')'".into(),
        Some(Token::Comma) => "','".into(),
    }
}

fn unsupported_by_emulator(what: &str) -> Error {
    Error::bad_request(format!("The Jira emulator does not support {what}."))
}

/// Parses `jql`.
pub(crate) fn parse(jql: &str) -> Result<Query, Error> {
    let mut parser = Parser {
        tokens: tokens(jql)?,
        at: 0,
    };
    parser.query()
}

impl Query {
    /// Whether the query restricts anything: Cloud refuses unbounded queries here.
    pub(crate) fn is_bounded(&self) -> bool {
        self.filter.is_some()
    }

    /// The matching issues, sorted.
    pub(crate) fn run<'a>(&self, context: Context<'a>) -> Result<Vec<&'a IssueRecord>, Error> {
        let check = self
            .filter
            .as_ref()
            .map(|filter| check_of(filter, context))
            .transpose()?;
        let cutoff = context.now - context.lag;
        // Matched, ordered and answered as the index holds each issue: Cloud answers from its
        // index, so an issue not re-indexed yet comes back as it was.
        let mut found: Vec<&IssueRecord> = context
            .store
            .issues()
            .iter()
            .filter_map(|issue| {
                if context.reconcile.contains(&issue.id) {
                    Some(issue)
                } else {
                    issue.as_indexed_at(cutoff)
                }
            })
            .filter(|issue| check.as_ref().is_none_or(|check| holds(check, issue)))
            .collect();
        let order = if self.order.is_empty() {
            vec![(SortField::Key, true)]
        } else {
            self.order.clone()
        };
        found.sort_by(|left, right| {
            order
                .iter()
                .map(|(field, descending)| {
                    let ordering = compare(*field, left, right);
                    if *descending {
                        ordering.reverse()
                    } else {
                        ordering
                    }
                })
                .find(|ordering| ordering.is_ne())
                .unwrap_or_else(|| issue_number(left).cmp(&issue_number(right)).reverse())
        });
        Ok(found)
    }

    /// A fingerprint of the query, so a page token is only good for the query it came from.
    pub(crate) fn fingerprint(jql: &str) -> u64 {
        // FNV-1a: stable across processes, unlike the std hasher.
        jql.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}

fn issue_number(issue: &IssueRecord) -> u64 {
    issue.id.parse().unwrap_or_default()
}

fn compare(field: SortField, left: &IssueRecord, right: &IssueRecord) -> Ordering {
    match field {
        SortField::Key => issue_number(left).cmp(&issue_number(right)),
        SortField::Created => left.created.cmp(&right.created),
        SortField::Updated => left.updated.cmp(&right.updated),
        SortField::Status => left.status.cmp(&right.status),
        SortField::Summary => left
            .summary
            .to_lowercase()
            .cmp(&right.summary.to_lowercase()),
    }
}

fn check_of(expr: &Expr, context: Context<'_>) -> Result<Check, Error> {
    let all = |items: &[Expr]| {
        items
            .iter()
            .map(|item| check_of(item, context))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match expr {
        Expr::Clause(clause) => Check::Test(resolve(clause, context)?),
        Expr::And(items) => Check::And(all(items)?),
        Expr::Or(items) => Check::Or(all(items)?),
        Expr::Not(inner) => Check::Not(Box::new(check_of(inner, context)?)),
    })
}

fn holds(check: &Check, issue: &IssueRecord) -> bool {
    match check {
        Check::Test(test) => passes(test, issue),
        Check::And(items) => items.iter().all(|item| holds(item, issue)),
        Check::Or(items) => items.iter().any(|item| holds(item, issue)),
        Check::Not(inner) => !holds(inner, issue),
    }
}

/// `at` without its seconds: Jira's index keeps `created` and `updated` to the minute, so a JQL
/// date is compared with the minute an issue changed in, never with the second.
fn to_the_minute(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_second(0)
        .and_then(|at| at.replace_nanosecond(0))
        .unwrap_or(at)
}

fn resolve(clause: &Clause, context: Context<'_>) -> Result<Test, Error> {
    let negated = matches!(
        clause.operator,
        Operator::NotEquals | Operator::NotIn | Operator::NotContains | Operator::IsNotEmpty
    );
    match clause.field {
        Field::Labels if matches!(clause.operator, Operator::IsEmpty | Operator::IsNotEmpty) => {
            Ok(Test::NoLabels { negated })
        }
        Field::Labels => Ok(Test::HasLabel {
            labels: texts(clause, context)?,
            negated,
        }),
        Field::Summary => Ok(Test::SummaryContains {
            text: texts(clause, context)?.concat().to_lowercase(),
            negated,
        }),
        Field::Created | Field::Updated => {
            let operand = clause
                .operands
                .first()
                .ok_or_else(|| syntax_error("missing date"))?;
            Ok(Test::Date {
                field: clause.field,
                operator: clause.operator,
                at: date(operand, clause.field, context.now)?,
            })
        }
        Field::Key
            if matches!(
                clause.operator,
                Operator::Greater
                    | Operator::GreaterOrEqual
                    | Operator::Less
                    | Operator::LessOrEqual
            ) =>
        {
            let value = texts(clause, context)?.concat();
            // By key or id, as `=` takes; the issue must exist, as for `=`.
            let issue = context
                .store
                .issue(&value)
                .map_err(|_| unknown_key(&value))?;
            Ok(Test::KeyRange {
                operator: clause.operator,
                project: issue.project_key.clone(),
                number: key_number(&issue.key),
            })
        }
        Field::StatusCategory => {
            let workflow = context.store.workflow();
            let mut statuses = Vec::new();
            for value in texts(clause, context)? {
                let category = category_named(&value).ok_or_else(|| {
                    Error::bad_request(format!(
                        "The value '{value}' does not exist for the field 'statusCategory'."
                    ))
                })?;
                statuses.extend(
                    workflow
                        .statuses
                        .iter()
                        .filter(|status| status.category == category)
                        .map(|status| status.name.clone()),
                );
            }
            // An issue's category is its status's: the clause is one on the status.
            Ok(Test::OneOf {
                field: Field::Status,
                values: statuses,
                negated,
            })
        }
        field => {
            let values = texts(clause, context)?;
            for value in &values {
                if !exists(field, value, context.store) {
                    return Err(match field {
                        Field::Key => unknown_key(value),
                        _ => Error::bad_request(format!(
                            "The value '{value}' does not exist for the field '{}'.",
                            field.name()
                        )),
                    });
                }
            }
            Ok(Test::OneOf {
                field,
                values,
                negated,
            })
        }
    }
}

fn unknown_key(value: &str) -> Error {
    Error::bad_request(format!(
        "An issue with key '{value}' does not exist for field 'key'."
    ))
}

/// The number of an issue key (`SEC-12` → 12).
fn key_number(key: &str) -> u64 {
    key.rsplit_once('-')
        .and_then(|(_, number)| number.parse().ok())
        .unwrap_or_default()
}

/// The status category a JQL value names: its name, key or id, as Cloud accepts them.
fn category_named(value: &str) -> Option<StatusCategory> {
    [
        StatusCategory::ToDo,
        StatusCategory::InProgress,
        StatusCategory::Done,
    ]
    .into_iter()
    .find(|category| {
        value.eq_ignore_ascii_case(category.name())
            || value.eq_ignore_ascii_case(category.key())
            || value == category.id().to_string()
    })
}

/// The operands as text, `currentUser()` resolved to the caller.
fn texts(clause: &Clause, context: Context<'_>) -> Result<Vec<String>, Error> {
    clause
        .operands
        .iter()
        .map(|operand| match operand {
            Operand::Text(text) => Ok(text.clone()),
            Operand::Function(name) if name.eq_ignore_ascii_case("currentUser") => {
                Ok(context.caller.to_owned())
            }
            Operand::Function(name) => Err(Error::bad_request(format!(
                "Unable to find JQL function '{name}()'."
            ))),
        })
        .collect()
}

fn exists(field: Field, value: &str, store: &Store) -> bool {
    match field {
        Field::Project => value.eq_ignore_ascii_case(store.project_key()),
        Field::Key => store.issue(value).is_ok(),
        Field::Status => store.workflow().status(value).is_some(),
        Field::IssueType => store.issue_type(value).is_some(),
        Field::Reporter | Field::Creator => store.user(value).is_some(),
        _ => true,
    }
}

fn passes(test: &Test, issue: &IssueRecord) -> bool {
    match test {
        Test::OneOf {
            field,
            values,
            negated,
        } => {
            let actual = match field {
                Field::Project => &issue.project_key,
                Field::Key => &issue.key,
                Field::Status => &issue.status,
                Field::IssueType => &issue.issue_type,
                Field::Reporter => &issue.reporter,
                _ => &issue.creator,
            };
            let found = values.iter().any(|value| {
                value.eq_ignore_ascii_case(actual) || (*field == Field::Key && *value == issue.id)
            });
            found != *negated
        }
        Test::HasLabel { labels, negated } => {
            let found = labels.iter().any(|label| issue.labels.contains(label));
            found != *negated
        }
        Test::NoLabels { negated } => issue.labels.is_empty() != *negated,
        Test::KeyRange {
            operator,
            project,
            number,
        } => {
            let actual = key_number(&issue.key);
            issue.project_key.eq_ignore_ascii_case(project)
                && match operator {
                    Operator::Greater => actual > *number,
                    Operator::GreaterOrEqual => actual >= *number,
                    Operator::Less => actual < *number,
                    _ => actual <= *number,
                }
        }
        Test::SummaryContains { text, negated } => {
            issue.summary.to_lowercase().contains(text.as_str()) != *negated
        }
        Test::Date {
            field,
            operator,
            at,
        } => {
            let actual = to_the_minute(if *field == Field::Created {
                issue.created
            } else {
                issue.updated
            });
            match operator {
                Operator::Equals => actual == *at,
                Operator::NotEquals => actual != *at,
                Operator::Greater => actual > *at,
                Operator::GreaterOrEqual => actual >= *at,
                Operator::Less => actual < *at,
                _ => actual <= *at,
            }
        }
    }
}

/// A JQL date: `now()`, a period relative to now (`-5m`, `2h`, `-1d`, `-1w`), or an absolute
/// `yyyy-MM-dd` / `yyyy/MM/dd` with optional ` HH:mm`, taken as UTC.
fn date(operand: &Operand, field: Field, now: OffsetDateTime) -> Result<OffsetDateTime, Error> {
    let invalid = |value: &str| {
        Error::bad_request(format!(
            "Date value '{value}' for field '{}' is invalid. Valid formats include: \
             'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period \
             format e.g. '-5d', '4w 2d'.",
            field.name()
        ))
    };
    let text = match operand {
        Operand::Function(name) if name.eq_ignore_ascii_case("now") => return Ok(now),
        Operand::Function(name) => {
            return Err(Error::bad_request(format!(
                "Unable to find JQL function '{name}()'."
            )));
        }
        Operand::Text(text) => text.trim(),
    };
    if let Some(period) = relative_period(text) {
        return Ok(now + period);
    }
    let normalized = text.replace('/', "-");
    let (day, time_of_day) = match normalized.split_once(' ') {
        Some((day, clock)) => (day, Some(clock)),
        None => (normalized.as_str(), None),
    };
    let day = Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| invalid(text))?;
    let clock = match time_of_day {
        Some(clock) => Time::parse(
            clock.trim(),
            time::macros::format_description!("[hour]:[minute]"),
        )
        .map_err(|_| invalid(text))?,
        None => Time::MIDNIGHT,
    };
    Ok(PrimitiveDateTime::new(day, clock).assume_utc())
}

fn relative_period(text: &str) -> Option<time::Duration> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let unit = rest.chars().last()?;
    let amount: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    let period = match unit.to_ascii_lowercase() {
        'm' => time::Duration::minutes(amount),
        'h' => time::Duration::hours(amount),
        'd' => time::Duration::days(amount),
        'w' => time::Duration::weeks(amount),
        _ => return None,
    };
    Some(period * sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_joined_by_and_with_order_parse() {
        let query = parse(r#"project = SEC AND labels = "sir-case-1" ORDER BY updated DESC"#);
        let query = query.unwrap_or_else(|error| panic!("{error}"));
        assert!(matches!(query.filter, Some(Expr::And(ref items)) if items.len() == 2));
        assert_eq!(query.order, vec![(SortField::Updated, true)]);
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        let query = parse("key = SEC-1 AND (labels = a OR NOT labels = b) OR labels = c")
            .unwrap_or_else(|error| panic!("{error}"));
        let Some(Expr::Or(alternatives)) = query.filter else {
            panic!("OR at the top");
        };
        assert_eq!(alternatives.len(), 2);
        let Expr::And(both) = &alternatives[0] else {
            panic!("AND inside the first alternative");
        };
        assert!(matches!(&both[1], Expr::Or(inner) if matches!(inner[1], Expr::Not(_))));
    }

    #[test]
    fn unbalanced_parentheses_are_a_syntax_error() {
        assert!(parse("(labels = a").is_err());
        assert!(parse("labels = a)").is_err());
    }

    #[test]
    fn dates_are_compared_to_the_minute() {
        let at = time::macros::datetime!(2026-12-01 09:30:59.999 UTC);
        assert_eq!(
            to_the_minute(at),
            time::macros::datetime!(2026-12-01 09:30 UTC)
        );
    }

    #[test]
    fn summary_does_not_take_equals() {
        assert!(parse("summary = x").is_err());
    }

    #[test]
    fn relative_periods_read_as_offsets() {
        assert_eq!(relative_period("-5m"), Some(time::Duration::minutes(-5)));
        assert_eq!(relative_period("2d"), Some(time::Duration::days(2)));
        assert_eq!(relative_period("soon"), None);
    }

    /// A store of SEC with issues SEC-1 … SEC-`count`; SEC-2 is In Progress and SEC-3 Done.
    fn store_with(count: usize) -> Store {
        let mut store = Store::new(crate::store::StoreSettings {
            deployment: crate::Deployment::Cloud,
            project_key: "SEC".into(),
            issue_types: vec!["Task".into()],
            workflow: crate::Workflow::default(),
            auto_watch: false,
            max_attachment_bytes: 1024,
            custom_fields: Vec::new(),
            integration_email: "sync@example.com".into(),
            integration_token: "token".into(),
            integration_display_name: "Sync".into(),
        });
        let me = store.integration_account_id().to_owned();
        for n in 1..=count {
            store
                .create_issue(
                    &me,
                    crate::store::NewIssueFields {
                        issue_type: "Task".into(),
                        summary: format!("issue {n}"),
                        description: None,
                        labels: Vec::new(),
                        custom_fields: Default::default(),
                        reporter: None,
                        properties: Default::default(),
                        description_wiki: None,
                    },
                )
                .unwrap_or_else(|error| panic!("{error}"));
        }
        // To Do → In Progress (11); for SEC-3 on through In Review (31) to Done (51).
        for (key, transitions) in [("SEC-2", &["11"][..]), ("SEC-3", &["11", "31", "51"][..])] {
            for transition in transitions {
                store
                    .transition(&me, key, transition)
                    .unwrap_or_else(|error| panic!("{error}"));
            }
        }
        store
    }

    /// The keys `jql` finds in `store`, or the 400's message.
    fn keys(store: &Store, jql: &str) -> Result<Vec<String>, String> {
        let query = parse(jql).map_err(|error| error.to_string())?;
        let context = Context {
            now: crate::now_utc(),
            caller: store.integration_account_id(),
            store,
            lag: std::time::Duration::ZERO,
            reconcile: &[],
        };
        let found = query.run(context).map_err(|error| error.to_string())?;
        Ok(found.into_iter().map(|issue| issue.key.clone()).collect())
    }

    #[test]
    fn key_comparisons_take_the_issue_number_not_the_text() {
        let store = store_with(10);
        let after_9 = keys(&store, "project = SEC AND key > SEC-9 ORDER BY key ASC");
        assert_eq!(after_9, Ok(vec!["SEC-10".to_owned()]));
        let from_9 = keys(&store, r#"issuekey >= "SEC-9" ORDER BY key ASC"#);
        assert_eq!(from_9, Ok(vec!["SEC-9".to_owned(), "SEC-10".to_owned()]));
        let before_3 = keys(&store, "key < SEC-3 ORDER BY key ASC");
        assert_eq!(before_3, Ok(vec!["SEC-1".to_owned(), "SEC-2".to_owned()]));
        let to_2 = keys(&store, "key <= SEC-2 ORDER BY key ASC");
        assert_eq!(to_2, Ok(vec!["SEC-1".to_owned(), "SEC-2".to_owned()]));
    }

    #[test]
    fn a_key_comparison_with_an_unknown_key_is_a_400() {
        let store = store_with(3);
        let unknown = keys(&store, "key > SEC-99");
        assert!(
            unknown.as_ref().is_err_and(|e| e.contains("SEC-99")),
            "{unknown:?}"
        );
    }

    #[test]
    fn status_category_takes_names_keys_and_ids_of_the_workflow_categories() {
        let store = store_with(4);
        let open = ["SEC-1", "SEC-2", "SEC-4"].map(str::to_owned).to_vec();
        let not_done = keys(&store, "statusCategory != Done ORDER BY key ASC");
        assert_eq!(not_done, Ok(open.clone()));
        let not_in = keys(&store, "statusCategory NOT IN (done) ORDER BY key ASC");
        assert_eq!(not_in, Ok(open));
        let done = keys(&store, "statusCategory = 3");
        assert_eq!(done, Ok(vec!["SEC-3".to_owned()]));
        let to_do = keys(&store, r#"statusCategory = "To Do" ORDER BY key ASC"#);
        assert_eq!(to_do, Ok(vec!["SEC-1".to_owned(), "SEC-4".to_owned()]));
        let started = keys(
            &store,
            r#"statuscategory IN ("In Progress", indeterminate, new) ORDER BY key ASC"#,
        );
        assert_eq!(
            started,
            Ok(["SEC-1", "SEC-2", "SEC-4"].map(str::to_owned).to_vec())
        );
    }

    #[test]
    fn an_unknown_status_category_is_a_400_and_it_takes_no_range() {
        let store = store_with(3);
        assert!(keys(&store, "statusCategory = Finished").is_err());
        assert!(keys(&store, "statusCategory > Done").is_err());
    }

    #[test]
    fn only_order_by_is_unbounded() {
        let query = parse("ORDER BY key").unwrap_or_else(|error| panic!("{error}"));
        assert!(!query.is_bounded());
    }
}
