/**
 * @generated SignedSource<<970173757e74d3a15ef25581b52f3b92>>
 * @relayHash 7a749663c4c6dab9af0080c19fefc108
 * @lightSyntaxTransform
 * @nogrep
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

// @relayRequestID 1cdb9389c6fe1c8dc277356c0228f2d0fff0a0432887069071c79be0ee5ff2d2

import { ConcreteRequest } from 'relay-runtime';
export type PaymentStatus = "CAPTURED" | "FAILED" | "INITIATED" | "PARTIALLY_REFUNDED" | "REFUNDED" | "%future added value";
export type CapturePaymentInput = {
  cardToken?: string | null | undefined;
  idempotencyKey: string;
  paymentId: string;
};
export type courierCapturePaymentMutation$variables = {
  input: CapturePaymentInput;
};
export type courierCapturePaymentMutation$data = {
  readonly capturePayment: {
    readonly capturedAt: string | null | undefined;
    readonly id: string;
    readonly status: PaymentStatus;
  };
};
export type courierCapturePaymentMutation = {
  response: courierCapturePaymentMutation$data;
  variables: courierCapturePaymentMutation$variables;
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
    "name": "capturePayment",
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
        "name": "capturedAt",
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
    "name": "courierCapturePaymentMutation",
    "selections": (v1/*: any*/),
    "type": "Mutation",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": (v0/*: any*/),
    "kind": "Operation",
    "name": "courierCapturePaymentMutation",
    "selections": (v1/*: any*/)
  },
  "params": {
    "id": "1cdb9389c6fe1c8dc277356c0228f2d0fff0a0432887069071c79be0ee5ff2d2",
    "metadata": {},
    "name": "courierCapturePaymentMutation",
    "operationKind": "mutation",
    "text": null
  }
};
})();

(node as any).hash = "389163341e7c7dbc8fde385d33818f5d";

export default node;
