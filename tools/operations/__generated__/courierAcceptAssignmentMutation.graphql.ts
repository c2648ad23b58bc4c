/**
 * @generated SignedSource<<4bc15ad4bd1d8c440968eca978722a31>>
 * @relayHash dffe304ca99d2272282158fb4bc5e8da
 * @lightSyntaxTransform
 * @nogrep
 */

/* tslint:disable */
/* eslint-disable */
// @ts-nocheck

// @relayRequestID 0889965737dd353944d4f170ee94bcc6fe0da94c38b9dcece5aa1a8005e4b057

import { ConcreteRequest } from 'relay-runtime';
export type AssignmentStatus = "ACCEPTED" | "CANCELLED" | "DELIVERED" | "FAILED" | "IN_TRANSIT" | "OFFERED" | "PICKED_UP" | "%future added value";
export type AcceptAssignmentInput = {
  assignmentId: string;
};
export type courierAcceptAssignmentMutation$variables = {
  input: AcceptAssignmentInput;
};
export type courierAcceptAssignmentMutation$data = {
  readonly acceptAssignment: {
    readonly acceptedAt: string | null | undefined;
    readonly id: string;
    readonly status: AssignmentStatus;
  };
};
export type courierAcceptAssignmentMutation = {
  response: courierAcceptAssignmentMutation$data;
  variables: courierAcceptAssignmentMutation$variables;
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
    "concreteType": "ShippingAssignment",
    "kind": "LinkedField",
    "name": "acceptAssignment",
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
        "name": "acceptedAt",
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
    "name": "courierAcceptAssignmentMutation",
    "selections": (v1/*: any*/),
    "type": "Mutation",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": (v0/*: any*/),
    "kind": "Operation",
    "name": "courierAcceptAssignmentMutation",
    "selections": (v1/*: any*/)
  },
  "params": {
    "id": "0889965737dd353944d4f170ee94bcc6fe0da94c38b9dcece5aa1a8005e4b057",
    "metadata": {},
    "name": "courierAcceptAssignmentMutation",
    "operationKind": "mutation",
    "text": null
  }
};
})();

(node as any).hash = "01dff5cb3af4398f9b682de65cabc4a2";

export default node;
