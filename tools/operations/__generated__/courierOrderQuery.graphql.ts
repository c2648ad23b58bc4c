/**
 * @generated SignedSource<<1e658bbf00b8af335edab3aee8e4c72d>>
 * @relayHash a74a2fb57a89979037d3e7a52048a0ac
 * @lightSyntaxTransform
 * @nogrep
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

// @relayRequestID 4fd75b0f2d07550a879b8b096c830ea248332ff74db0def669f97ade3ac80832

import { ConcreteRequest } from 'relay-runtime';
export type OrderStatus = "CANCELLED" | "CONFIRMED" | "DELIVERED" | "PENDING" | "SHIPPING" | "%future added value";
export type courierOrderQuery$variables = {
  id: string;
};
export type courierOrderQuery$data = {
  readonly order: {
    readonly currency: string;
    readonly id: string;
    readonly orderNumber: string;
    readonly status: OrderStatus;
    readonly total: string;
    readonly version: number;
  };
};
export type courierOrderQuery = {
  response: courierOrderQuery$data;
  variables: courierOrderQuery$variables;
};

const node: ConcreteRequest = (function(){
var v0 = [
  {
    "defaultValue": null,
    "kind": "LocalArgument",
    "name": "id"
  }
],
v1 = [
  {
    "alias": null,
    "args": [
      {
        "kind": "Variable",
        "name": "id",
        "variableName": "id"
      }
    ],
    "concreteType": "Order",
    "kind": "LinkedField",
    "name": "order",
    "plural": false,
    "selections": [
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "id",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "orderNumber",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "status",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "version",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "total",
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
];
return {
  "fragment": {
    "argumentDefinitions": (v0/*: any*/),
    "kind": "Fragment",
    "metadata": null,
    "name": "courierOrderQuery",
    "selections": (v1/*: any*/),
    "type": "Query",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": (v0/*: any*/),
    "kind": "Operation",
    "name": "courierOrderQuery",
    "selections": (v1/*: any*/)
  },
  "params": {
    "id": "4fd75b0f2d07550a879b8b096c830ea248332ff74db0def669f97ade3ac80832",
    "metadata": {},
    "name": "courierOrderQuery",
    "operationKind": "query",
    "text": null
  }
};
})();

(node as any).hash = "3ae32179d3afb9aba890d99e294f67cb";

export default node;
