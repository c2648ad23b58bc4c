/**
 * @generated SignedSource<<0e4af5f234f47a152949da35e5d1df13>>
 * @relayHash 4a3038fef53d9e600bf5868e5221a616
 * @lightSyntaxTransform
 * @nogrep
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

// @relayRequestID d91d13a906a96125c8c113c27240a203fdd65ec06ff722034af15eaf9f3e7726

import { ConcreteRequest } from 'relay-runtime';
export type UserRole = "ADMIN" | "AGENT" | "BUYER" | "SELLER" | "%future added value";
export type courierViewerQuery$variables = Record<PropertyKey, never>;
export type courierViewerQuery$data = {
  readonly viewer: {
    readonly displayName: string;
    readonly email: string | null | undefined;
    readonly id: string;
    readonly role: UserRole;
    readonly wallet: {
      readonly balance: string;
      readonly currency: string;
      readonly id: string;
    } | null | undefined;
  } | null | undefined;
};
export type courierViewerQuery = {
  response: courierViewerQuery$data;
  variables: courierViewerQuery$variables;
};

const node: ConcreteRequest = (function(){
var v0 = {
  "alias": null,
  "args": null,
  "kind": "ScalarField",
  "name": "id",
  "storageKey": null
},
v1 = [
  {
    "alias": null,
    "args": null,
    "concreteType": "User",
    "kind": "LinkedField",
    "name": "viewer",
    "plural": false,
    "selections": [
      (v0/*: any*/),
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "email",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "displayName",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "role",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "concreteType": "Wallet",
        "kind": "LinkedField",
        "name": "wallet",
        "plural": false,
        "selections": [
          (v0/*: any*/),
          {
            "alias": null,
            "args": null,
            "kind": "ScalarField",
            "name": "balance",
            "storageKey": null
          },
          {
            "alias": null,
            "args": null,
            "kind": "ScalarField",
            "name": "currency",
            "storageKey": null
          }
        ],
        "storageKey": null
      }
    ],
    "storageKey": null
  }
];
return {
  "fragment": {
    "argumentDefinitions": [],
    "kind": "Fragment",
    "metadata": null,
    "name": "courierViewerQuery",
    "selections": (v1/*: any*/),
    "type": "Query",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": [],
    "kind": "Operation",
    "name": "courierViewerQuery",
    "selections": (v1/*: any*/)
  },
  "params": {
    "id": "d91d13a906a96125c8c113c27240a203fdd65ec06ff722034af15eaf9f3e7726",
    "metadata": {},
    "name": "courierViewerQuery",
    "operationKind": "query",
    "text": null
  }
};
})();

(node as any).hash = "edce4098fe7cc26f0a43d4b41265cdbd";

export default node;
