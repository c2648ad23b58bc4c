/**
 * @generated SignedSource<<9cb12243265c1cd91f93041d3fda1485>>
 * @relayHash 91fe02c7341d79b7d0bf322e9cfbc6aa
 * @lightSyntaxTransform
 * @nogrep
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

// @relayRequestID ef2efe53390b3d2ea6951b42579047718a288c7c4cc9323fcd36518943f7d869

import { ConcreteRequest } from 'relay-runtime';
export type OrderStatus = "CANCELLED" | "CONFIRMED" | "DELIVERED" | "PENDING" | "SHIPPING" | "%future added value";
export type CreateOrderInput = {
  currency: string;
  deliveryZipCode: string;
  items: ReadonlyArray<OrderItemInput>;
  sellerId: string;
};
export type OrderItemInput = {
  name: string;
  quantity: number;
  unitPrice: string;
};
export type courierCreateOrderMutation$variables = {
  input: CreateOrderInput;
};
export type courierCreateOrderMutation$data = {
  readonly createOrder: {
    readonly id: string;
    readonly orderNumber: string;
    readonly status: OrderStatus;
    readonly total: string;
  };
};
export type courierCreateOrderMutation = {
  response: courierCreateOrderMutation$data;
  variables: courierCreateOrderMutation$variables;
};

const node: ConcreteRequest = (function(){
var v0 = [
  {
    "defaultValue": null,
    "kind": "LocalArgument",
    "name": "input"
  }
],
v1 = [
  {
    "alias": null,
    "args": [
      {
        "kind": "Variable",
        "name": "input",
        "variableName": "input"
      }
    ],
    "concreteType": "Order",
    "kind": "LinkedField",
    "name": "createOrder",
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
        "name": "total",
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
    "name": "courierCreateOrderMutation",
    "selections": (v1/*: any*/),
    "type": "Mutation",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": (v0/*: any*/),
    "kind": "Operation",
    "name": "courierCreateOrderMutation",
    "selections": (v1/*: any*/)
  },
  "params": {
    "id": "ef2efe53390b3d2ea6951b42579047718a288c7c4cc9323fcd36518943f7d869",
    "metadata": {},
    "name": "courierCreateOrderMutation",
    "operationKind": "mutation",
    "text": null
  }
};
})();

(node as any).hash = "26b67d88605401144e57c95074dd4198";

export default node;
