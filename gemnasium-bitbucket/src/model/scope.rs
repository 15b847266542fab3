use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ModelError;

macro_rules! scopes {
    ($($variant:ident = $text:literal, $checkbox:literal;)*) => {
        /// A Bitbucket Cloud OAuth 2 scope, as ticked on the consumer form.
        ///
        /// Only the OAuth consumer family (`repository`, `webhook`, …); API-token scopes such as
        /// `read:repository:bitbucket` are rejected when parsing.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Scope {
            $(
                #[doc = concat!("`", $text, "`: ", $checkbox, ".")]
                $variant,
            )*
        }

        impl Scope {
            /// Every scope, in alphabetical order of its string (the order sets display in).
            pub const ALL: &'static [Scope] = &[$(Scope::$variant),*];

            /// The scope string Bitbucket uses, such as `repository:write`.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Scope::$variant => $text),* }
            }

            /// The consumer-form checkbox that grants this scope, such as `Repositories: Read`.
            #[must_use]
            pub fn checkbox(self) -> &'static str {
                match self { $(Scope::$variant => $checkbox),* }
            }
        }
    };
}

scopes! {
    Account = "account", "Account: Read";
    AccountWrite = "account:write", "Account: Write";
    Email = "email", "Account: Email";
    Issue = "issue", "Issues: Read";
    IssueWrite = "issue:write", "Issues: Write";
    Pipeline = "pipeline", "Pipelines: Read";
    PipelineVariable = "pipeline:variable", "Pipelines: Edit variables";
    PipelineWrite = "pipeline:write", "Pipelines: Write";
    Project = "project", "Projects: Read";
    ProjectAdmin = "project:admin", "Projects: Admin";
    PullRequest = "pullrequest", "Pull requests: Read";
    PullRequestWrite = "pullrequest:write", "Pull requests: Write";
    Repository = "repository", "Repositories: Read";
    RepositoryAdmin = "repository:admin", "Repositories: Admin";
    RepositoryDelete = "repository:delete", "Repositories: Delete";
    RepositoryWrite = "repository:write", "Repositories: Write";
    Runner = "runner", "Runners: Read";
    RunnerWrite = "runner:write", "Runners: Write";
    Snippet = "snippet", "Snippets: Read";
    SnippetWrite = "snippet:write", "Snippets: Write";
    Team = "team", "Workspace membership: Read";
    TeamWrite = "team:write", "Workspace membership: Write";
    Webhook = "webhook", "Webhooks: Read and write";
    Wiki = "wiki", "Wikis: Read and write";
}

/// Which implications between scopes to trust.
///
/// Bitbucket documents some (`repository:write` ⇒ `repository`); others are reported but
/// unverified (`account` ⇒ `email`). Checks that gate behaviour use [`Implications::Documented`],
/// so we never claim a token covers what Bitbucket may refuse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Implications {
    /// Only the implications Atlassian documents.
    #[default]
    Documented,
    /// Documented ones plus the unverified ones (`account` ⇒ `email`, `account:write` ⇒
    /// `account`, `pipeline:write` ⇒ `pipeline`, `runner:write` ⇒ `runner`).
    IncludingUnverified,
}

impl Scope {
    /// Scopes that a token holding `self` also passes checks for (direct implications only).
    #[must_use]
    pub fn implies(self, implications: Implications) -> &'static [Scope] {
        use Scope::{
            Account, AccountWrite, Email, Issue, IssueWrite, Pipeline, PipelineWrite, Project,
            PullRequest, PullRequestWrite, Repository, RepositoryWrite, Runner, RunnerWrite,
            Snippet, SnippetWrite, Team, TeamWrite,
        };
        let documented: &'static [Scope] = match self {
            RepositoryWrite | PullRequest | Project => &[Repository],
            PullRequestWrite => &[PullRequest, RepositoryWrite],
            IssueWrite => &[Issue],
            SnippetWrite => &[Snippet],
            TeamWrite => &[Team],
            _ => &[],
        };
        if implications == Implications::Documented {
            return documented;
        }
        match self {
            Account => &[Email],
            AccountWrite => &[Account],
            PipelineWrite => &[Pipeline],
            RunnerWrite => &[Runner],
            _ => documented,
        }
    }

    /// Whether Bitbucket removed this scope (Issues and Wikis were removed on 20 Aug 2026): it
    /// still parses, so stored configurations read, but it is never requested or required.
    #[must_use]
    pub fn is_obsolete(self) -> bool {
        matches!(self, Scope::Issue | Scope::IssueWrite | Scope::Wiki)
    }

    fn known_list() -> String {
        Scope::ALL
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if let Some(scope) = Scope::ALL.iter().find(|s| s.as_str() == value) {
            return Ok(*scope);
        }
        if value == "project:write" {
            return Err(ModelError::RemovedScope {
                value: value.to_owned(),
                hint: "`project:write` was removed on 15 May 2023; use `project:admin` (and `project` to read)",
            });
        }
        if value.ends_with(":bitbucket") || value.matches(':').count() >= 2 {
            return Err(ModelError::ApiTokenScope {
                value: value.to_owned(),
                short: api_token_equivalent(value).map(str::to_owned),
            });
        }
        let lower = value.to_ascii_lowercase();
        let suggestion = Scope::ALL
            .iter()
            .map(|s| (edit_distance(&lower, s.as_str()), s.as_str()))
            .filter(|(d, s)| *d <= 2.max(lower.len() / 4) || s.starts_with(&lower))
            .min_by_key(|(d, _)| *d)
            .map(|(_, s)| s.to_owned());
        Err(ModelError::UnknownScope {
            value: value.to_owned(),
            suggestion,
            known: Scope::known_list(),
        })
    }
}

/// The OAuth consumer scope matching an API-token scope, for a helpful error.
fn api_token_equivalent(value: &str) -> Option<&'static str> {
    let mut parts = value.split(':');
    let (action, resource) = (parts.next()?, parts.next()?);
    Some(match (action, resource) {
        ("read", "repository") => "repository",
        ("write", "repository") => "repository:write",
        ("admin", "repository") => "repository:admin",
        ("delete", "repository") => "repository:delete",
        ("read" | "write" | "delete", "webhook") => "webhook",
        ("read", "user" | "account") => "account",
        ("read", "pullrequest") => "pullrequest",
        ("write", "pullrequest") => "pullrequest:write",
        ("read", "project") => "project",
        ("admin", "project") => "project:admin",
        ("read", "workspace") => "team",
        ("read", "pipeline") => "pipeline",
        ("write", "pipeline") => "pipeline:write",
        ("read", "issue") => "issue",
        ("write", "issue") => "issue:write",
        ("read", "snippet") => "snippet",
        ("write", "snippet") => "snippet:write",
        _ => return None,
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A set of [`Scope`]s, parsed from `account,email` or `account email`.
///
/// Displays comma-separated in a stable order (`account,email`), the form the CLI accepts.
///
/// Sets read from Bitbucket (token responses, stored tokens) also keep the words this library
/// does not know, verbatim ([`unknown`](Self::unknown)): a scope Bitbucket adds, renames or
/// retires must be visible, never silently dropped. They count for nothing in coverage checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeSet {
    known: BTreeSet<Scope>,
    unknown: BTreeSet<String>,
}

impl ScopeSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a scope string from Bitbucket leniently: splits on spaces and commas, keeps the
    /// scopes it knows and the other words (new, removed or API-token scopes) as
    /// [`unknown`](Self::unknown). Words with control characters or longer than 100 characters
    /// are not scopes and are dropped.
    #[must_use]
    pub fn parse_lenient(value: &str) -> Self {
        let mut set = Self::new();
        for word in split_scopes(value) {
            match word.parse::<Scope>() {
                Ok(scope) => {
                    set.known.insert(scope);
                }
                Err(_) if word.len() <= 100 && !word.chars().any(char::is_control) => {
                    set.unknown.insert(word.to_owned());
                }
                Err(_) => {}
            }
        }
        set
    }

    /// Whether the set holds no scope, known or not.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.known.is_empty() && self.unknown.is_empty()
    }

    /// Number of known scopes held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether `scope` was granted explicitly (no implication).
    #[must_use]
    pub fn contains(&self, scope: Scope) -> bool {
        self.known.contains(&scope)
    }

    /// Adds `scope`; returns whether it was new.
    pub fn insert(&mut self, scope: Scope) -> bool {
        self.known.insert(scope)
    }

    /// The known scopes held, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.known.iter().copied()
    }

    /// Words Bitbucket sent that are not scopes this library knows, verbatim and sorted.
    pub fn unknown(&self) -> impl Iterator<Item = &str> + '_ {
        self.unknown.iter().map(String::as_str)
    }

    /// Known scopes that Bitbucket has removed (Issues and Wikis, August 2026): parsed so that
    /// old configurations still read, never required.
    #[must_use]
    pub fn obsolete(&self) -> ScopeSet {
        self.iter().filter(|s| s.is_obsolete()).collect()
    }

    /// Everything a token holding these scopes passes checks for, implications included.
    #[must_use]
    pub fn closure(&self, implications: Implications) -> Self {
        let mut all = self.known.clone();
        let mut pending: Vec<Scope> = self.known.iter().copied().collect();
        while let Some(scope) = pending.pop() {
            for implied in scope.implies(implications) {
                if all.insert(*implied) {
                    pending.push(*implied);
                }
            }
        }
        all.into_iter().collect()
    }

    /// Whether these scopes satisfy every scope in `required`, through documented implications.
    #[must_use]
    pub fn covers(&self, required: &ScopeSet) -> bool {
        self.missing(required).is_empty()
    }

    /// The scopes of `required` that these do not satisfy, through documented implications.
    #[must_use]
    pub fn missing(&self, required: &ScopeSet) -> ScopeSet {
        self.missing_with(required, Implications::Documented)
    }

    /// Like [`ScopeSet::missing`], choosing which implications to trust.
    #[must_use]
    pub fn missing_with(&self, required: &ScopeSet, implications: Implications) -> ScopeSet {
        let have = self.closure(implications);
        required.known.difference(&have.known).copied().collect()
    }

    /// Space-separated, as Bitbucket writes scopes in token responses.
    #[must_use]
    pub fn to_space_separated(&self) -> String {
        self.words().collect::<Vec<_>>().join(" ")
    }

    fn words(&self) -> impl Iterator<Item = &str> + '_ {
        self.known
            .iter()
            .map(|s| s.as_str())
            .chain(self.unknown.iter().map(String::as_str))
    }
}

fn split_scopes(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
}

impl FromStr for ScopeSet {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let known = split_scopes(value)
            .map(str::parse)
            .collect::<Result<BTreeSet<Scope>, _>>()?;
        if known.is_empty() {
            return Err(ModelError::EmptyScopes);
        }
        Ok(Self {
            known,
            unknown: BTreeSet::new(),
        })
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self {
            known: iter.into_iter().collect(),
            unknown: BTreeSet::new(),
        }
    }
}

impl<const N: usize> From<[Scope; N]> for ScopeSet {
    fn from(scopes: [Scope; N]) -> Self {
        scopes.into_iter().collect()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words().collect::<Vec<_>>().join(","))
    }
}

impl TryFrom<String> for ScopeSet {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ScopeSet> for String {
    fn from(set: ScopeSet) -> Self {
        set.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::Scope::*;
    use super::*;

    fn set(s: &str) -> ScopeSet {
        s.parse().unwrap()
    }

    #[test]
    fn parses_commas_spaces_and_mixtures() {
        assert_eq!(set("account,email"), ScopeSet::from([Account, Email]));
        assert_eq!(set("account email"), ScopeSet::from([Account, Email]));
        assert_eq!(
            set(" repository, webhook  "),
            ScopeSet::from([Repository, Webhook])
        );
        assert_eq!(set("webhook,repository").to_string(), "repository,webhook");
        assert_eq!(set("account,account"), ScopeSet::from([Account]));
    }

    #[test]
    fn every_scope_round_trips() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), *scope);
            assert!(!scope.checkbox().is_empty());
        }
        assert_eq!(Scope::ALL.len(), 24);
    }

    #[test]
    fn documented_lattice() {
        assert!(set("repository:write").covers(&set("repository")));
        assert!(set("pullrequest").covers(&set("repository")));
        assert!(set("pullrequest:write").covers(&set("pullrequest,repository:write,repository")));
        assert!(set("project").covers(&set("repository")));
        assert!(set("issue:write").covers(&set("issue")));
        assert!(set("snippet:write").covers(&set("snippet")));
        assert!(set("team:write").covers(&set("team")));
        // The traps: admin scopes imply nothing.
        assert!(!set("repository:admin").covers(&set("repository")));
        assert!(!set("project:admin").covers(&set("project")));
        assert!(!set("project:admin").covers(&set("repository:write")));
        assert!(!set("issue:write").covers(&set("repository")));
        assert!(!set("webhook").covers(&set("repository")));
        // Unverified implications are not trusted by default…
        assert!(!set("account").covers(&set("email")));
        // …but can be asked for.
        assert!(set("account")
            .missing_with(&set("email"), Implications::IncludingUnverified)
            .is_empty());
    }

    #[test]
    fn missing_names_what_is_absent() {
        let missing = set("repository").missing(&set("repository,webhook"));
        assert_eq!(missing, ScopeSet::from([Webhook]));
    }

    #[test]
    fn helpful_errors() {
        let e = "repositories".parse::<ScopeSet>().unwrap_err().to_string();
        assert!(e.contains("did you mean `repository`"), "{e}");
        let e = "read:repository:bitbucket"
            .parse::<ScopeSet>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("API-token scope") && e.contains("`repository`"),
            "{e}"
        );
        let e = "project:write".parse::<ScopeSet>().unwrap_err().to_string();
        assert!(e.contains("removed"), "{e}");
        assert_eq!("".parse::<ScopeSet>().unwrap_err(), ModelError::EmptyScopes);
        assert_eq!(
            " , ".parse::<ScopeSet>().unwrap_err(),
            ModelError::EmptyScopes
        );
        let e = "bogus".parse::<ScopeSet>().unwrap_err().to_string();
        assert!(e.contains("known scopes: account, account:write"), "{e}");
    }

    #[test]
    fn lenient_parsing_keeps_unknown_words_verbatim() {
        let set = ScopeSet::parse_lenient("account email repository brand:new");
        assert!(set.covers(&ScopeSet::from([Account, Email, Repository])));
        assert_eq!(set.unknown().collect::<Vec<_>>(), ["brand:new"]);
        assert_eq!(
            set.to_space_separated(),
            "account email repository brand:new"
        );
        assert_eq!(set.to_string(), "account,email,repository,brand:new");
        assert_ne!(set, ScopeSet::from([Account, Email, Repository]));
    }

    #[test]
    fn a_real_five_word_scopes_string_keeps_all_five() {
        // Issue 9, finding 2: `project:write` (removed in 2023) was dropped from a real token
        // response; another real response carries `project:read`.
        let set =
            ScopeSet::parse_lenient("project:write pullrequest account repository:write webhook");
        assert_eq!(set.len(), 4);
        assert_eq!(set.unknown().collect::<Vec<_>>(), ["project:write"]);
        assert_eq!(set.to_space_separated().split(' ').count(), 5);
        let set = ScopeSet::parse_lenient("project:read,account");
        assert_eq!(set.unknown().collect::<Vec<_>>(), ["project:read"]);
    }

    #[test]
    fn obsolete_scopes_parse_but_are_flagged() {
        let set = set("issue,wiki,repository");
        assert_eq!(set.obsolete().to_string(), "issue,wiki");
        assert!(!Repository.is_obsolete());
    }
}
