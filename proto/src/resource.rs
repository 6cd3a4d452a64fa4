//! A resource's identity, the pair (region, host), with the one parser and the one formatter
//! of its text form `<region>/<host>`, as it travels in messages (`resource_id`), URLs,
//! journal keys and JSON. Nothing else splits or joins the pair by hand.

use std::fmt;
use std::str::FromStr;

/// A resource: a host of a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    region: String,
    host: String,
}

/// Text that is not `<region>/<host>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource id '{0}' is not '<region>/<host>'")]
pub struct BadResourceId(pub String);

impl ResourceId {
    /// The host `host` of region `region`.
    pub fn new(region: impl Into<String>, host: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            host: host.into(),
        }
    }

    /// Reads `<region>/<host>`: both parts non-empty, neither with a `/`.
    pub fn parse(text: &str) -> Result<Self, BadResourceId> {
        match text.split_once('/') {
            Some((region, host))
                if !region.is_empty() && !host.is_empty() && !host.contains('/') =>
            {
                Ok(Self::new(region, host))
            }
            _ => Err(BadResourceId(text.to_string())),
        }
    }

    /// Reads `text` as a resource of `region`: a resource of another region, or text that is
    /// not a resource id, gives None.
    pub fn parse_in(text: &str, region: &str) -> Option<Self> {
        Self::parse(text).ok().filter(|id| id.region == region)
    }

    /// Its region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Its host (the agent's id).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Its (region, host).
    pub fn into_parts(self) -> (String, String) {
        (self.region, self.host)
    }
}

/// The region of `text` (`<region>/<host>`), or "" when it names none: for the places that
/// only group by region and must not fail on bad input.
pub fn region_of(text: &str) -> &str {
    text.split_once('/').map_or("", |(region, _)| region)
}

/// The host of `text` (`<region>/<host>`), or `text` itself when it has no region.
pub fn host_of(text: &str) -> &str {
    text.split_once('/').map_or(text, |(_, host)| host)
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.host)
    }
}

impl FromStr for ResourceId {
    type Err = BadResourceId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_round_trips() {
        let id = ResourceId::new("east", "web-1");
        assert_eq!(id.to_string(), "east/web-1");
        assert_eq!(ResourceId::parse("east/web-1").unwrap(), id);
        assert_eq!("east/web-1".parse::<ResourceId>().unwrap().host(), "web-1");
    }

    #[test]
    fn bad_text_is_refused_and_named() {
        for bad in ["", "east", "/web-1", "east/", "/", "east/web/1"] {
            let err = ResourceId::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        }
        assert!(ResourceId::parse_in("west/a", "east").is_none());
        assert_eq!(ResourceId::parse_in("east/a", "east").unwrap().host(), "a");
    }

    #[test]
    fn region_and_host_of_text() {
        assert_eq!(region_of("east/web-1"), "east");
        assert_eq!(region_of("web-1"), "");
        assert_eq!(host_of("east/web-1"), "web-1");
        assert_eq!(host_of("web-1"), "web-1");
    }
}
