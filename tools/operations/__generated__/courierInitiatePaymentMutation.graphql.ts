/**
 * @generated SignedSource<<f72c56d3cf91f7ff7950e7da9419f13f>>
 * @relayHash ca5477333f056af905552b4e6247ce86
 * @lightSyntaxTransform
 * @nogrep
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

// @relayRequestID b3123782d0b0b97ccb40bbeeae79ed38f8b5079b87a9b53d533052ae288d28f5

import { ConcreteRequest } from 'relay-runtime';
export type PaymentMethod = "CARD" | "CASH_ON_DELIVERY" | "WALLET" | "%future added value";
export type PaymentStatus = "CAPTURED" | "FAILED" | "INITIATED" | "PARTIALLY_REFUNDED" | "REFUNDED" | "%future added value";
export type InitiatePaymentInput = {
  idempotencyKey: string;
  method: PaymentMethod;
  orderId: string;
};
export type courierInitiatePaymentMutation$variables = {
  input: InitiatePaymentInput;
};
export type courierInitiatePaymentMutation$data = {
  readonly initiatePayment: {
    readonly amount: string;
    readonly id: string;
    readonly status: PaymentStatus;
  };
};
export type courierInitiatePaymentMutation = {
  response: courierInitiatePaymentMutation$data;
  variables: courierInitiatePaymentMutation$variables;
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
    "concreteType": "Payment",
    "kind": "LinkedField",
    "name": "initiatePayment",
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
        "name": "status",
        "storageKey": null
      },
      {
        "alias": null,
        "args": null,
        "kind": "ScalarField",
        "name": "amount",
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
    "name": "courierInitiatePaymentMutation",
    "selections": (v1/*: any*/),
    "type": "Mutation",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": (v0/*: any*/),
    "kind": "Operation",
    "name": "courierInitiatePaymentMutation",
    "selections": (v1/*: any*/)
  },
  "params": {
    "id": "b3123782d0b0b97ccb40bbeeae79ed38f8b5079b87a9b53d533052ae288d28f5",
    "metadata": {},
    "name": "courierInitiatePaymentMutation",
    "operationKind": "mutation",
    "text": null
  }
};
})();

(node as any).hash = "c0e38b55b3108df0ccfaea753c77f19c";

export default node;
