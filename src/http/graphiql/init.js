// Starts GraphiQL on Courier's own endpoint. Served as a file (not inline)
// so the page's Content-Security-Policy can forbid inline scripts.
(function () {
  var defaultQuery = [
    '# Welcome to Courier.',
    '#',
    '# `cargo run` printed a demo token',
    '# for each role. Paste one in the',
    '# Headers tab below:',
    '#   {"Authorization": "Bearer <token>"}',
    '# then run this query (Ctrl-Enter).',
    '',
    'query Me {',
    '  viewer {',
    '    id',
    '    email',
    '    role',
    '  }',
    '}',
    '',
  ].join('\n');
  var fetcher = GraphiQL.createFetcher({ url: '/graphql' });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
