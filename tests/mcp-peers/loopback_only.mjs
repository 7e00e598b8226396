// loopback_only.mjs: preloaded into the everything server (node --import) so that its
// `app.listen(PORT)` binds 127.0.0.1 instead of every interface: the server has no host option.
// A listen() that names its own host is left alone.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  const portOnly = (typeof port === "number" || typeof port === "string") && typeof rest[0] !== "string";
  return portOnly ? listen.call(this, port, "127.0.0.1", ...rest) : listen.call(this, port, ...rest);
};
