//! The Docker Engine API route table: method + path pattern → named action.
//!
//! This is the first step of building the input document: once the path is canonical
//! ([`super::path`]), it is matched here, in the engine's own registration order (the engine's
//! router takes the first route that matches), and the match names the action, the resource
//! and how the body must be read. Anything that matches no route is the action `unknown`.
//!
//! Patterns mirror the engine's router: a literal prefix, at most one parameter, a literal
//! suffix. The parameter kinds are the router's regular expressions: `{id}` is one segment
//! (`[^/]+`), `{name:.*}` may be empty and may hold slashes (image and container references do),
//! `{id:.+}` is non-empty and may hold slashes. `tests/spec.rs` checks that every path and
//! method of the v1.41 and current API specifications maps to a named action.

/// How a route's parameter matches, as in the engine's router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// No parameter: the whole path is the prefix.
    None,
    /// `{x}`: one non-empty segment without `/`.
    Segment,
    /// `{x:.*}`: anything, possibly empty, possibly holding `/`.
    Any,
    /// `{x:.+}`: anything non-empty, possibly holding `/`.
    Plus,
}

/// The kind of resource an action concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    System,
    Container,
    Exec,
    Image,
    Build,
    Network,
    Volume,
    Plugin,
    Swarm,
    Node,
    Service,
    Task,
    Secret,
    Config,
    Distribution,
}

impl Kind {
    /// The name used in `input.request.resource.kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::System => "system",
            Kind::Container => "container",
            Kind::Exec => "exec",
            Kind::Image => "image",
            Kind::Build => "build",
            Kind::Network => "network",
            Kind::Volume => "volume",
            Kind::Plugin => "plugin",
            Kind::Swarm => "swarm",
            Kind::Node => "node",
            Kind::Service => "service",
            Kind::Task => "task",
            Kind::Secret => "secret",
            Kind::Config => "config",
            Kind::Distribution => "distribution",
        }
    }
}

/// Where the resource named by a request comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Names {
    /// The route names no single resource (lists, prunes, system calls).
    Nothing,
    /// The path parameter is an id (or a name the engine resolves like one).
    PathId,
    /// The path parameter is a name (image references, volume and plugin names).
    PathName,
    /// A query parameter holds the name (`POST /containers/create?name=web`).
    QueryName(&'static str),
    /// A query parameter holds the id (`POST /commit?container=abc`).
    QueryId(&'static str),
    /// The body's `Name` field holds the name (network, volume, secret, config creates).
    BodyName,
}

/// How the request body of an action is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body is expected; one that arrives anyway is shown as `other` and forwarded.
    None,
    /// A JSON body, parsed (bounded) and folded to the canonical field names of the named
    /// schema (the specification's operation id).
    Json(&'static str),
    /// A tar stream (build context, archive, image or plugin tarball): streamed, never buffered.
    Tar,
    /// Another byte stream (image import): streamed, never buffered.
    Stream,
}

/// One entry of the route table.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    pub prefix: &'static str,
    pub param: Param,
    pub suffix: &'static str,
    pub action: &'static str,
    pub kind: Kind,
    pub names: Names,
    pub body: Body,
    /// True for actions whose response may take arbitrarily long to start (waits, streams,
    /// uploads): no response-header timeout applies to them.
    pub long: bool,
}

/// The result of matching a request against the table.
#[derive(Clone, Copy, Debug)]
pub struct RouteMatch<'a> {
    pub route: &'static Route,
    /// The text the parameter matched, if the route has one.
    pub param: Option<&'a str>,
}

#[allow(clippy::too_many_arguments)] // a table row: every column is one argument
const fn r(
    method: &'static str,
    prefix: &'static str,
    param: Param,
    suffix: &'static str,
    action: &'static str,
    kind: Kind,
    names: Names,
    body: Body,
) -> Route {
    Route { method, prefix, param, suffix, action, kind, names, body, long: false }
}

/// A route whose response can take arbitrarily long to begin.
const fn long(route: Route) -> Route {
    Route { long: true, ..route }
}

use Body::{Json, Stream, Tar};
use Kind as K;
use Names::{BodyName, Nothing, PathId, PathName, QueryId, QueryName};
use Param::{Any, Plus, Segment};

const NO: Body = Body::None;
const NP: Param = Param::None;

/// The table, in the engine router's registration order (system, container, image, network,
/// volume, build, session, swarm, plugin, distribution, grpc). The first match wins.
pub static ROUTES: &[Route] = &[
    // system
    r("OPTIONS", "/", Any, "", "system.options", K::System, Nothing, NO),
    r("GET", "/_ping", NP, "", "system.ping", K::System, Nothing, NO),
    r("HEAD", "/_ping", NP, "", "system.ping", K::System, Nothing, NO),
    long(r("GET", "/events", NP, "", "system.events", K::System, Nothing, NO)),
    r("GET", "/info", NP, "", "system.info", K::System, Nothing, NO),
    r("GET", "/version", NP, "", "system.version", K::System, Nothing, NO),
    long(r("GET", "/system/df", NP, "", "system.df", K::System, Nothing, NO)),
    r("POST", "/auth", NP, "", "system.auth", K::System, Nothing, Json("SystemAuth")),
    // container
    r("HEAD", "/containers/", Any, "/archive", "container.archive.head", K::Container, PathId, NO),
    r("GET", "/containers/json", NP, "", "container.list", K::Container, Nothing, NO),
    long(r("GET", "/containers/", Any, "/export", "container.export", K::Container, PathId, NO)),
    r("GET", "/containers/", Any, "/changes", "container.changes", K::Container, PathId, NO),
    r("GET", "/containers/", Any, "/json", "container.inspect", K::Container, PathId, NO),
    r("GET", "/containers/", Any, "/top", "container.top", K::Container, PathId, NO),
    long(r("GET", "/containers/", Any, "/logs", "container.logs", K::Container, PathId, NO)),
    long(r("GET", "/containers/", Any, "/stats", "container.stats", K::Container, PathId, NO)),
    long(r("GET", "/containers/", Any, "/attach/ws", "container.attach.ws", K::Container, PathId, NO)),
    r("GET", "/exec/", Any, "/json", "exec.inspect", K::Exec, PathId, NO),
    long(r("GET", "/containers/", Any, "/archive", "container.archive.get", K::Container, PathId, NO)),
    r(
        "POST",
        "/containers/create",
        NP,
        "",
        "container.create",
        K::Container,
        QueryName("name"),
        Json("ContainerCreate"),
    ),
    long(r("POST", "/containers/", Any, "/kill", "container.kill", K::Container, PathId, NO)),
    r("POST", "/containers/", Any, "/pause", "container.pause", K::Container, PathId, NO),
    r("POST", "/containers/", Any, "/unpause", "container.unpause", K::Container, PathId, NO),
    long(r("POST", "/containers/", Any, "/restart", "container.restart", K::Container, PathId, NO)),
    // API < 1.24 accepted a HostConfig in the start body; the engine still honours old versions.
    long(r(
        "POST",
        "/containers/",
        Any,
        "/start",
        "container.start",
        K::Container,
        PathId,
        Json("ContainerStartLegacy"),
    )),
    long(r("POST", "/containers/", Any, "/stop", "container.stop", K::Container, PathId, NO)),
    long(r("POST", "/containers/", Any, "/wait", "container.wait", K::Container, PathId, NO)),
    r("POST", "/containers/", Any, "/resize", "container.resize", K::Container, PathId, NO),
    long(r("POST", "/containers/", Any, "/attach", "container.attach", K::Container, PathId, NO)),
    r("POST", "/containers/", Any, "/exec", "container.exec", K::Container, PathId, Json("ContainerExec")),
    r("POST", "/containers/", Any, "/logs/clear", "container.logs.clear", K::Container, PathId, NO),
    long(r("POST", "/exec/", Any, "/start", "exec.start", K::Exec, PathId, Json("ExecStart"))),
    r("POST", "/exec/", Any, "/resize", "exec.resize", K::Exec, PathId, NO),
    r("POST", "/containers/", Any, "/rename", "container.rename", K::Container, PathId, NO),
    r("POST", "/containers/", Any, "/update", "container.update", K::Container, PathId, Json("ContainerUpdate")),
    long(r("POST", "/containers/prune", NP, "", "container.prune", K::Container, Nothing, NO)),
    long(r("POST", "/commit", NP, "", "container.commit", K::Container, QueryId("container"), Json("ImageCommit"))),
    long(r("PUT", "/containers/", Any, "/archive", "container.archive.put", K::Container, PathId, Tar)),
    long(r("DELETE", "/containers/", Any, "", "container.delete", K::Container, PathId, NO)),
    // image
    r("GET", "/images/json", NP, "", "image.list", K::Image, Nothing, NO),
    r("GET", "/images/search", NP, "", "image.search", K::Image, QueryName("term"), NO),
    long(r("GET", "/images/get", NP, "", "image.save", K::Image, QueryName("names"), NO)),
    long(r("GET", "/images/", Any, "/get", "image.save", K::Image, PathName, NO)),
    r("GET", "/images/", Any, "/history", "image.history", K::Image, PathName, NO),
    r("GET", "/images/", Any, "/attestations", "image.attestations", K::Image, PathName, NO),
    r("GET", "/images/", Any, "/json", "image.inspect", K::Image, PathName, NO),
    long(r("POST", "/images/load", NP, "", "image.load", K::Image, Nothing, Tar)),
    // refined to image.pull or image.import by `refine_action`
    long(r("POST", "/images/create", NP, "", "image.pull", K::Image, QueryName("fromImage"), Stream)),
    long(r("POST", "/images/", Any, "/push", "image.push", K::Image, PathName, NO)),
    r("POST", "/images/", Any, "/tag", "image.tag", K::Image, PathName, NO),
    long(r("POST", "/images/prune", NP, "", "image.prune", K::Image, Nothing, NO)),
    long(r("DELETE", "/images/", Any, "", "image.delete", K::Image, PathName, NO)),
    // network
    r("GET", "/networks", NP, "", "network.list", K::Network, Nothing, NO),
    r("GET", "/networks/", NP, "", "network.list", K::Network, Nothing, NO),
    r("GET", "/networks/", Plus, "", "network.inspect", K::Network, PathId, NO),
    r("POST", "/networks/create", NP, "", "network.create", K::Network, BodyName, Json("NetworkCreate")),
    r("POST", "/networks/", Any, "/connect", "network.connect", K::Network, PathId, Json("NetworkConnect")),
    r("POST", "/networks/", Any, "/disconnect", "network.disconnect", K::Network, PathId, Json("NetworkDisconnect")),
    long(r("POST", "/networks/prune", NP, "", "network.prune", K::Network, Nothing, NO)),
    r("DELETE", "/networks/", Any, "", "network.delete", K::Network, PathId, NO),
    // volume
    r("GET", "/volumes", NP, "", "volume.list", K::Volume, Nothing, NO),
    r("GET", "/volumes/", Any, "", "volume.inspect", K::Volume, PathName, NO),
    r("POST", "/volumes/create", NP, "", "volume.create", K::Volume, BodyName, Json("VolumeCreate")),
    long(r("POST", "/volumes/prune", NP, "", "volume.prune", K::Volume, Nothing, NO)),
    r("PUT", "/volumes/", Any, "", "volume.update", K::Volume, PathName, Json("VolumeUpdate")),
    r("DELETE", "/volumes/", Any, "", "volume.delete", K::Volume, PathName, NO),
    // build
    long(r("POST", "/build", NP, "", "image.build", K::Build, QueryName("t"), Tar)),
    long(r("POST", "/build/prune", NP, "", "build.prune", K::Build, Nothing, NO)),
    r("POST", "/build/cancel", NP, "", "build.cancel", K::Build, Nothing, NO),
    // BuildKit session and gRPC tunnels (hijacked connections)
    long(r("POST", "/session", NP, "", "build.session", K::Build, Nothing, NO)),
    // swarm
    r("POST", "/swarm/init", NP, "", "swarm.init", K::Swarm, Nothing, Json("SwarmInit")),
    r("POST", "/swarm/join", NP, "", "swarm.join", K::Swarm, Nothing, Json("SwarmJoin")),
    r("POST", "/swarm/leave", NP, "", "swarm.leave", K::Swarm, Nothing, NO),
    r("GET", "/swarm", NP, "", "swarm.inspect", K::Swarm, Nothing, NO),
    r("GET", "/swarm/unlockkey", NP, "", "swarm.unlockkey", K::Swarm, Nothing, NO),
    r("POST", "/swarm/update", NP, "", "swarm.update", K::Swarm, Nothing, Json("SwarmUpdate")),
    r("POST", "/swarm/unlock", NP, "", "swarm.unlock", K::Swarm, Nothing, Json("SwarmUnlock")),
    r("GET", "/services", NP, "", "service.list", K::Service, Nothing, NO),
    r("GET", "/services/", Segment, "", "service.inspect", K::Service, PathId, NO),
    r("POST", "/services/create", NP, "", "service.create", K::Service, BodyName, Json("ServiceCreate")),
    r("POST", "/services/", Segment, "/update", "service.update", K::Service, PathId, Json("ServiceUpdate")),
    r("DELETE", "/services/", Segment, "", "service.delete", K::Service, PathId, NO),
    long(r("GET", "/services/", Segment, "/logs", "service.logs", K::Service, PathId, NO)),
    r("GET", "/nodes", NP, "", "node.list", K::Node, Nothing, NO),
    r("GET", "/nodes/", Segment, "", "node.inspect", K::Node, PathId, NO),
    r("DELETE", "/nodes/", Segment, "", "node.delete", K::Node, PathId, NO),
    r("POST", "/nodes/", Segment, "/update", "node.update", K::Node, PathId, Json("NodeUpdate")),
    r("GET", "/tasks", NP, "", "task.list", K::Task, Nothing, NO),
    r("GET", "/tasks/", Segment, "", "task.inspect", K::Task, PathId, NO),
    long(r("GET", "/tasks/", Segment, "/logs", "task.logs", K::Task, PathId, NO)),
    r("GET", "/secrets", NP, "", "secret.list", K::Secret, Nothing, NO),
    r("POST", "/secrets/create", NP, "", "secret.create", K::Secret, BodyName, Json("SecretCreate")),
    r("DELETE", "/secrets/", Segment, "", "secret.delete", K::Secret, PathId, NO),
    r("GET", "/secrets/", Segment, "", "secret.inspect", K::Secret, PathId, NO),
    r("POST", "/secrets/", Segment, "/update", "secret.update", K::Secret, PathId, Json("SecretUpdate")),
    r("GET", "/configs", NP, "", "config.list", K::Config, Nothing, NO),
    r("POST", "/configs/create", NP, "", "config.create", K::Config, BodyName, Json("ConfigCreate")),
    r("DELETE", "/configs/", Segment, "", "config.delete", K::Config, PathId, NO),
    r("GET", "/configs/", Segment, "", "config.inspect", K::Config, PathId, NO),
    r("POST", "/configs/", Segment, "/update", "config.update", K::Config, PathId, Json("ConfigUpdate")),
    // plugin
    r("GET", "/plugins", NP, "", "plugin.list", K::Plugin, Nothing, NO),
    r("GET", "/plugins/", Any, "/json", "plugin.inspect", K::Plugin, PathName, NO),
    r("GET", "/plugins/privileges", NP, "", "plugin.privileges", K::Plugin, QueryName("remote"), NO),
    r("DELETE", "/plugins/", Any, "", "plugin.delete", K::Plugin, PathName, NO),
    r("POST", "/plugins/", Any, "/enable", "plugin.enable", K::Plugin, PathName, NO),
    r("POST", "/plugins/", Any, "/disable", "plugin.disable", K::Plugin, PathName, NO),
    long(r("POST", "/plugins/pull", NP, "", "plugin.pull", K::Plugin, QueryName("remote"), Json("PluginPull"))),
    long(r("POST", "/plugins/", Any, "/push", "plugin.push", K::Plugin, PathName, NO)),
    long(r("POST", "/plugins/", Any, "/upgrade", "plugin.upgrade", K::Plugin, PathName, Json("PluginUpgrade"))),
    r("POST", "/plugins/", Any, "/set", "plugin.set", K::Plugin, PathName, Json("PluginSet")),
    long(r("POST", "/plugins/create", NP, "", "plugin.create", K::Plugin, QueryName("name"), Tar)),
    // distribution
    r("GET", "/distribution/", Any, "/json", "distribution.inspect", K::Distribution, PathName, NO),
    // BuildKit's gRPC endpoint, registered last
    long(r("POST", "/grpc", NP, "", "build.grpc", K::Build, Nothing, NO)),
];

/// The action of a request that matches no route.
pub const UNKNOWN: &str = "unknown";

impl Route {
    /// Match a canonical, version-less path against this route.
    fn matches<'a>(&self, method: &str, path: &'a str) -> Option<Option<&'a str>> {
        if self.method != method {
            return None;
        }
        if self.param == Param::None {
            return (path == self.prefix).then_some(None);
        }
        let middle = path.strip_prefix(self.prefix)?.strip_suffix(self.suffix)?;
        let accepted = match self.param {
            Param::None => false,
            Param::Any => true,
            Param::Plus => !middle.is_empty(),
            Param::Segment => !middle.is_empty() && !middle.contains('/'),
        };
        accepted.then_some(Some(middle))
    }
}

/// Find the first route that matches `method` and the canonical path, as the engine would.
pub fn match_route<'a>(method: &str, path: &'a str) -> Option<RouteMatch<'a>> {
    ROUTES.iter().find_map(|route| route.matches(method, path).map(|param| RouteMatch { route, param }))
}

/// Actions whose name depends on the query: `POST /images/create` pulls an image, or imports
/// one from the request body when `fromSrc` is given.
pub fn refine_action(action: &'static str, has_query: impl Fn(&str) -> bool) -> &'static str {
    match action {
        "image.pull" if has_query("fromSrc") => "image.import",
        _ => action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(method: &str, path: &str) -> &'static str {
        match_route(method, path).map_or(UNKNOWN, |m| m.route.action)
    }

    #[test]
    fn image_save_is_not_confused_with_an_image_named_get() {
        assert_eq!(action("GET", "/images/get"), "image.save");
        assert_eq!(action("GET", "/images/busybox/get"), "image.save");
        assert_eq!(action("GET", "/images/getmeili/json"), "image.inspect");
        assert_eq!(action("GET", "/images/get/json"), "image.inspect");
        let m = match_route("GET", "/images/registry:5000/team/app:1.0/json").unwrap();
        assert_eq!(m.param, Some("registry:5000/team/app:1.0"));
    }

    #[test]
    fn literal_routes_come_before_parameters() {
        assert_eq!(action("GET", "/containers/json"), "container.list");
        assert_eq!(action("GET", "/containers/abc/json"), "container.inspect");
        assert_eq!(action("POST", "/containers/create"), "container.create");
        assert_eq!(action("POST", "/networks/create"), "network.create");
        assert_eq!(action("GET", "/networks/"), "network.list");
        assert_eq!(action("GET", "/networks/n1"), "network.inspect");
        assert_eq!(action("GET", "/plugins/privileges"), "plugin.privileges");
        assert_eq!(action("GET", "/swarm/unlockkey"), "swarm.unlockkey");
    }

    #[test]
    fn parameters_follow_the_engine_regexes() {
        // {name:.*} may hold slashes: the engine would look up a container "a/b".
        assert_eq!(match_route("GET", "/containers/a/b/json").unwrap().param, Some("a/b"));
        // {id} is one segment.
        assert_eq!(action("GET", "/services/a/b"), UNKNOWN);
        assert_eq!(action("GET", "/services/a"), "service.inspect");
        // {id:.+} must be non-empty.
        assert_eq!(match_route("GET", "/networks/").unwrap().route.action, "network.list");
        // DELETE /containers/{name:.*} catches everything below /containers/.
        assert_eq!(action("DELETE", "/containers/x/json"), "container.delete");
    }

    #[test]
    fn method_matters() {
        assert_eq!(action("GET", "/containers/create"), UNKNOWN);
        assert_eq!(action("PATCH", "/containers/json"), UNKNOWN);
        assert_eq!(action("HEAD", "/_ping"), "system.ping");
        assert_eq!(action("HEAD", "/containers/x/archive"), "container.archive.head");
        assert_eq!(action("GET", "/nothing"), UNKNOWN);
    }

    #[test]
    fn image_create_is_pull_or_import() {
        assert_eq!(refine_action("image.pull", |q| q == "fromSrc"), "image.import");
        assert_eq!(refine_action("image.pull", |_| false), "image.pull");
        assert_eq!(refine_action("container.list", |_| true), "container.list");
    }

    #[test]
    fn action_names_are_dotted_snake_case() {
        for route in ROUTES {
            assert!(route.action.split('.').all(crate::reason::is_valid_code), "{}", route.action);
        }
    }
}
